import { describe, expect, test } from "bun:test";
import {
  type DeviceModel,
  deviceMaximum,
  fullestBatches,
  modelledRunMs,
  oneRequestMs,
  SimulatedDevice,
  T4_FP32,
  utilisation,
  type WorkOf,
} from "./device.ts";

/** A clock the test moves by hand. */
function manualClock(start = 0) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

/** Round numbers: 1 MB of weights read in 1 ms, 0.01 ms per token (5 MFLOP at 0.5 × 1 TFLOP/s), 1 ms per run. */
const ROUND: DeviceModel = { name: "round", memoryBandwidth: 1e9, peakFlops: 1e12, efficiency: 0.5, runOverheadMs: 1 };
const roundWork: WorkOf = (rows, length) => ({ weightBytes: 1e6, flops: rows * length * 5e6 });

describe("the cost model", () => {
  test("T4: 320 MB of weights (1 ms at 320 GB/s) + 4.05 GFLOP (1 ms at 0.5 × 8.1 TFLOP/s) + 0.5 ms overhead = 2.5 ms", () => {
    expect(modelledRunMs(T4_FP32, { weightBytes: 320e6, flops: 4.05e9 })).toBeCloseTo(2.5, 9);
  });

  test("the terms add: no weights and no FLOPs cost the overhead alone; doubling the FLOPs adds their term once more", () => {
    expect(modelledRunMs(T4_FP32, { weightBytes: 0, flops: 0 })).toBe(0.5);
    expect(modelledRunMs(T4_FP32, { weightBytes: 320e6, flops: 8.1e9 })).toBeCloseTo(3.5, 9);
  });
});

describe("the device timeline", () => {
  const run = { weightBytes: 320e6, flops: 4.05e9 }; // 2.5 ms on the T4

  test("an idle device starts a run at once", () => {
    const clock = manualClock(10);
    const device = new SimulatedDevice(T4_FP32, clock);
    expect(device.reserve(run, 1)).toEqual({ askedAt: 10, start: 10, end: 12.5 });
  });

  test("runs of two models queue FIFO: each starts when the one asked before it ends; a gap leaves the device idle", () => {
    const clock = manualClock(0);
    const device = new SimulatedDevice(T4_FP32, clock);
    const a1 = device.reserve(run, 4); // model A at 0
    clock.set(1);
    const b1 = device.reserve(run, 2); // model B at 1: behind A
    clock.set(1.5);
    const a2 = device.reserve(run, 1); // model A again at 1.5: behind B
    expect([a1, b1, a2].map((s) => [s.start, s.end])).toEqual([
      [0, 2.5],
      [2.5, 5],
      [5, 7.5],
    ]);
    clock.set(20);
    expect(device.reserve(run, 1).start).toBe(20);
    // At 20 the last run has only started: 7.5 ms of the 10 reserved have passed.
    expect(device.stats()).toMatchObject({ runs: 4, rows: 8, busyMs: 7.5, busyUntil: 22.5 });
  });

  test("utilisation: busy time between two snapshots ÷ the window; time reserved ahead counts only once it has passed", () => {
    const clock = manualClock(0);
    const device = new SimulatedDevice(T4_FP32, clock);
    const start = device.stats();
    device.reserve(run, 1);
    device.reserve(run, 1); // busy 0 → 5
    clock.set(3);
    const mid = device.stats();
    expect(mid.busyMs).toBe(3);
    expect(utilisation(start, mid)).toBe(1);
    clock.set(10);
    expect(utilisation(start, device.stats())).toBe(0.5); // 5 ms busy in 10
    expect(utilisation(mid, device.stats())).toBeCloseTo(2 / 7, 9); // 3 → 5 busy, 5 → 10 idle
  });
});

describe("the device's maximum throughput", () => {
  test("fullest batches: sorted lengths, cut where a batch would pass MAX_BATCH_SIZE or MAX_BATCH_TOKENS; an over-long row alone", () => {
    const limits = { maxBatchSize: 3, maxBatchTokens: 100 };
    expect(fullestBatches([40, 30, 100, 10, 30, 12], limits)).toEqual([
      { rows: 3, length: 30 }, // 10, 12, 30: 90 tokens padded
      { rows: 2, length: 40 }, // 30, 40: the size limit closed the first
      { rows: 1, length: 100 }, // 3 × 100 > 100
    ]);
  });

  test("texts ÷ the device time of every model's fullest batches (worked by hand), and one request alone", () => {
    const lengths = [10, 20, 10, 20];
    const models = [
      { work: roundWork, lengths },
      { work: roundWork, lengths },
    ];
    // Batch 2: runs 2 × 10 (1 + 0.2 + 1 = 2.2 ms) and 2 × 20 (2.4 ms) per model: 9.2 ms for 4 texts.
    const pairs = deviceMaximum(ROUND, models, { maxBatchSize: 2, maxBatchTokens: 1000 });
    expect(pairs.msPerRequest).toBeCloseTo(2.3, 9);
    expect(pairs.requestsPerS).toBeCloseTo(1000 / 2.3, 6);
    expect(pairs.meanRows).toBe(2);
    // Batch 1: 2.1 + 2.1 + 2.2 + 2.2 ms per model: 17.2 ms for 4 texts. The weights and overhead are paid per run.
    const single = deviceMaximum(ROUND, models, { maxBatchSize: 1, maxBatchTokens: 1000 });
    expect(single.msPerRequest).toBeCloseTo(4.3, 9);
    // The token budget bounds the batch as the size does: 30 tokens allow only one row of 20.
    const tokens = deviceMaximum(ROUND, models, { maxBatchSize: 32, maxBatchTokens: 30 });
    expect(tokens.meanRows).toBeCloseTo(4 / 3, 9); // 2 × 10, 1 × 20, 1 × 20
    expect(pairs.paddingEfficiency).toBe(1); // equal lengths side by side once sorted
    const mixed = deviceMaximum(ROUND, [{ work: roundWork, lengths: [10, 30] }], {
      maxBatchSize: 2,
      maxBatchTokens: 1000,
    });
    expect(mixed.paddingEfficiency).toBeCloseTo(40 / 60, 9);
    expect(
      oneRequestMs(ROUND, [
        { work: roundWork, length: 10 },
        { work: roundWork, length: 20 },
      ]),
    ).toBeCloseTo(4.3, 9);
  });
});
