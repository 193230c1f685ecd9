/**
 * A simulated GPU for the benchmark (never in the served path): a cost model of one forward pass and
 * one timeline that every model's worker reserves runs on, as five sessions share one T4 and its
 * kernels run one after another. It is a model, not a measurement: the report states its constants.
 */
import type { BatchLimits } from "../../app/batching/policy.ts";
import type { Clock } from "../lib/arrival.ts";

/** The constants of the cost model: a run takes bytes ÷ bandwidth + FLOPs ÷ (peak × efficiency) + overhead. */
export interface DeviceModel {
  name: string;
  /** Memory bandwidth, bytes/s: every run reads the weights once. */
  memoryBandwidth: number;
  /** Peak arithmetic rate at the precision the engines run (FP32), FLOP/s. */
  peakFlops: number;
  /** The share of peak the GEMMs reach, 0..1. */
  efficiency: number;
  /** Fixed cost of one run, ms: kernel launches, host ↔ device copies of ids and logits, synchronisation. */
  runOverheadMs: number;
}

/**
 * NVIDIA T4 (g4dn) running FP32 engines: 320 GB/s GDDR6 and 8.1 TFLOP/s FP32 (NVIDIA's datasheet).
 * The T4 has no TF32, so FP32 GEMMs run on the CUDA cores; cuBLAS reaches about half of peak there
 * within the 70 W cap (clocks drop under sustained load). 0.5 ms per run stands for the ~100 kernel
 * launches of a 12-layer encoder (~5 µs each) plus the copies and the stream synchronisation.
 */
export const T4_FP32: DeviceModel = {
  name: "NVIDIA T4, FP32 (simulated)",
  memoryBandwidth: 320e9,
  peakFlops: 8.1e12,
  efficiency: 0.5,
  runOverheadMs: 0.5,
};

/** What one forward pass asks of the device. */
export interface RunWork {
  flops: number;
  /** Bytes of weights the pass reads (FP32). */
  weightBytes: number;
}

/** A model's work for a batch of `rows` rows padded to `length` tokens. */
export type WorkOf = (rows: number, length: number) => RunWork;

/** A model's work for a packed batch: rows of these lengths concatenated on one token axis, no padding. */
export type PackedWorkOf = (lengths: readonly number[]) => RunWork;

/** What one model asks of the device for a batch, in either layout. */
export interface ModelWork {
  padded: WorkOf;
  packed: PackedWorkOf;
}

/** How a batch reaches the device: padded (rows × its longest row) or packed (its real tokens on one axis). */
export type BatchLayout = "padded" | "packed";

/** The work of a batch of rows of these lengths in a layout. */
export function batchWork(work: ModelWork, lengths: readonly number[], layout: BatchLayout): RunWork {
  if (layout === "packed") return work.packed(lengths);
  return work.padded(
    lengths.length,
    lengths.reduce((n, l) => Math.max(n, l), 0),
  );
}

/** The modelled time of one run, ms: the terms add (no overlap of memory and arithmetic is assumed). */
export function modelledRunMs(device: DeviceModel, work: RunWork): number {
  const memoryMs = (work.weightBytes / device.memoryBandwidth) * 1000;
  const computeMs = (work.flops / (device.peakFlops * device.efficiency)) * 1000;
  return memoryMs + computeMs + device.runOverheadMs;
}

/** One reservation on the device's timeline, ms on its clock. */
export interface DeviceSlot {
  /** When the run was asked for (the batch was dispatched). */
  askedAt: number;
  start: number;
  end: number;
}

/** The device's counters at one moment; two snapshots give a window's utilisation. */
export interface DeviceStats {
  /** The clock when read, ms. */
  at: number;
  runs: number;
  /** Of those, the runs of packed batches. */
  packedRuns: number;
  rows: number;
  /** Time the device has been busy up to `at` (reserved time still ahead is not counted yet). */
  busyMs: number;
  /** The end of the last reservation. */
  busyUntil: number;
}

/**
 * One device shared by every model: runs are served in the order they are asked for (FIFO, one at a
 * time: one GPU, kernels serialised), each starting when the device is free.
 */
export class SimulatedDevice {
  private busyUntil = Number.NEGATIVE_INFINITY;
  private runs = 0;
  private packedRuns = 0;
  private rows = 0;
  private reservedMs = 0;

  constructor(
    readonly model: DeviceModel,
    private readonly clock: Pick<Clock, "now">,
  ) {}

  /** Reserves the next free slot for a run of `rows` rows doing `work`, laid out as `layout`. */
  reserve(work: RunWork, rows: number, layout: BatchLayout = "padded"): DeviceSlot {
    const askedAt = this.clock.now();
    const start = Math.max(askedAt, this.busyUntil);
    const end = start + modelledRunMs(this.model, work);
    this.busyUntil = end;
    this.runs++;
    if (layout === "packed") this.packedRuns++;
    this.rows += rows;
    this.reservedMs += end - start;
    return { askedAt, start, end };
  }

  stats(): DeviceStats {
    const at = this.clock.now();
    // Reservations queue back to back once the device is busy, so the time still ahead is one stretch.
    const ahead = Math.max(0, this.busyUntil - at);
    const { runs, packedRuns, rows, busyUntil } = this;
    return { at, runs, packedRuns, rows, busyMs: this.reservedMs - ahead, busyUntil };
  }
}

/** The share of the time between two snapshots the device was busy, 0..1. */
export function utilisation(before: DeviceStats, after: DeviceStats): number {
  const window = after.at - before.at;
  return window > 0 ? (after.busyMs - before.busyMs) / window : 0;
}

/** A batch shape: rows, each padded to `length` tokens. */
export interface BatchShape {
  rows: number;
  length: number;
}

/**
 * The fullest batches the limits allow over a set of token lengths: the lengths sorted, then cut into
 * consecutive batches, each growing while it has fewer than maxBatchSize rows and its rows × its
 * longest row stays within maxBatchTokens (a single longer row goes alone, as the batch policy sends
 * it). This is the batch policy's length grouping with every text queued at once.
 */
export function fullestBatches(lengths: readonly number[], limits: BatchLimits): BatchShape[] {
  const sorted = [...lengths].sort((a, b) => a - b);
  const batches: BatchShape[] = [];
  for (const length of sorted) {
    const last = batches.at(-1);
    if (last && last.rows < limits.maxBatchSize && (last.rows + 1) * length <= limits.maxBatchTokens) {
      last.rows++;
      last.length = length;
    } else batches.push({ rows: 1, length });
  }
  return batches;
}

/**
 * Consecutive batches of a queue in arrival order, as a packing batcher forms them (no grouping by
 * length: nothing is padded): each grows while it has fewer than `maxRows` rows and its real tokens
 * stay within `maxTokens` (a single longer row goes alone). Each batch as its rows' lengths.
 */
export function packedBatches(lengths: readonly number[], maxRows: number, maxTokens: number): number[][] {
  const batches: { lengths: number[]; tokens: number }[] = [];
  for (const length of lengths) {
    const last = batches.at(-1);
    if (last && last.lengths.length < maxRows && last.tokens + length <= maxTokens) {
      last.lengths.push(length);
      last.tokens += length;
    } else batches.push({ lengths: [length], tokens: length });
  }
  return batches.map((b) => b.lengths);
}

/** How the device's maximum is reached: the fullest padded batches, or packed ones of up to `maxTokens` real tokens. */
export type Packing = { layout: "padded" } | { layout: "packed"; maxTokens: number };

export const PADDED: Packing = { layout: "padded" };

/** One model's share of a text set: its work and each text's token length for it (truncated). */
export interface ModelLoad {
  work: ModelWork;
  lengths: readonly number[];
}

/** A model's batches under a packing, each as its rows' lengths. */
function batchesOf(lengths: readonly number[], limits: BatchLimits, packing: Packing): number[][] {
  if (packing.layout === "packed") return packedBatches(lengths, limits.maxBatchSize, packing.maxTokens);
  const sorted = [...lengths].sort((a, b) => a - b);
  const batches: number[][] = [];
  let at = 0;
  for (const b of fullestBatches(lengths, limits)) {
    batches.push(sorted.slice(at, at + b.rows));
    at += b.rows;
  }
  return batches;
}

export interface DeviceMaximum {
  /** Requests (one text, every model) per second the device can answer at best. */
  requestsPerS: number;
  /** Device time per request, ms: the inverse. */
  msPerRequest: number;
  /** Mean rows per run of those batches. */
  meanRows: number;
  /** Real tokens ÷ padded tokens of those batches. */
  paddingEfficiency: number;
}

/**
 * The simulated device's maximum throughput for a set of texts, each request one text that every
 * model classifies: the texts / the device time to run them all, when every model runs its texts in
 * `fullestBatches` (sorted by length, as full as MAX_BATCH_SIZE and MAX_BATCH_TOKENS allow) and the
 * models' runs never leave the device idle. With this cost model a row's share of a run's time falls
 * as the batch grows (the weights' read and the overhead are paid once per run), so without the
 * limits there would be no best batch: the maximum is the one under the limits in force. Packed
 * (`packing`), every model runs `packedBatches` in text order instead, each packed: its padding
 * efficiency is 1, and attention over its whole length is what it pays instead.
 */
export function deviceMaximum(
  device: DeviceModel,
  models: readonly ModelLoad[],
  limits: BatchLimits,
  packing: Packing = PADDED,
): DeviceMaximum {
  const texts = models[0]?.lengths.length ?? 0;
  let ms = 0;
  let runs = 0;
  let rows = 0;
  let real = 0;
  let padded = 0;
  for (const m of models) {
    if (m.lengths.length !== texts) throw new Error("every model must have a length for each text");
    real += m.lengths.reduce((n, l) => n + l, 0);
    for (const batch of batchesOf(m.lengths, limits, packing)) {
      ms += modelledRunMs(device, batchWork(m.work, batch, packing.layout));
      runs++;
      rows += batch.length;
      padded += packing.layout === "packed" ? batch.reduce((n, l) => n + l, 0) : batch.length * Math.max(...batch);
    }
  }
  return {
    requestsPerS: (texts / ms) * 1000,
    msPerRequest: ms / texts,
    meanRows: rows / runs,
    paddingEfficiency: real / padded,
  };
}

/** One request alone on an idle device, ms: each model's one-row run at the text's length, one after another. */
export function oneRequestMs(device: DeviceModel, models: readonly { work: WorkOf; length: number }[]): number {
  return models.reduce((ms, m) => ms + modelledRunMs(device, m.work(1, m.length)), 0);
}
