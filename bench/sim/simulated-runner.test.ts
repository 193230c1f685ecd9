import { describe, expect, test } from "bun:test";
import type { BatchResult, BatchRunner, RunnerState } from "../../app/batching/runner.ts";
import type { ExecutionProvider } from "../../app/config.ts";
import type { RowRef } from "../../app/tokenize/pack.ts";
import type { Clock } from "../lib/arrival.ts";
import { type DeviceModel, type ModelWork, SimulatedDevice } from "./device.ts";
import { SimulatedRunner } from "./simulated-runner.ts";

/** A clock moved by hand: sleepers wake when it passes their time. */
class ManualClock implements Clock {
  private time = 0;
  private sleepers: { until: number; wake: () => void }[] = [];
  now = () => this.time;
  sleepUntil = (ms: number) =>
    ms <= this.time ? Promise.resolve() : new Promise<void>((wake) => this.sleepers.push({ until: ms, wake }));
  async advance(to: number) {
    this.time = to;
    for (const s of this.sleepers.filter((s) => s.until <= to)) s.wake();
    this.sleepers = this.sleepers.filter((s) => s.until > to);
    await tick();
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A worker whose batches finish when the test says; answers one logit per row: the row's length. */
class HeldWorker implements BatchRunner {
  readonly calls: { rows: RowRef[]; finish: () => void }[] = [];
  up = true;
  provider: ExecutionProvider = "cuda";
  listeners: ((state: RunnerState) => void)[] = [];
  onState(fn: (state: RunnerState) => void) {
    this.listeners.push(fn);
  }
  run(rows: RowRef[]): Promise<BatchResult> {
    return new Promise((resolve) => {
      const logits = Float32Array.from(rows, (r) => r.length);
      this.calls.push({ rows, finish: () => resolve({ logits, numLabels: 1, runMs: 0.1 }) });
    });
  }
}

const row = (length: number): RowRef => ({ buffer: new SharedArrayBuffer(length * 4), offset: 0, length });

/** No weights, 1 ms per token (1 MFLOP per token at 1 GFLOP/s), no overhead: a run of rows × length takes rows × length ms. */
const PER_TOKEN: DeviceModel = {
  name: "1 ms/token",
  memoryBandwidth: 1e9,
  peakFlops: 1e9,
  efficiency: 1,
  runOverheadMs: 0,
};
/** Padded: rows × length ms; packed: its real tokens plus 1 ms per row (a stand-in for attention's extra). */
const work: ModelWork = {
  padded: (rows, length) => ({ weightBytes: 0, flops: rows * length * 1e6 }),
  packed: (lengths) => ({ weightBytes: 0, flops: lengths.reduce((n, l) => n + l + 1, 0) * 1e6 }),
};

/** Whether a promise has settled yet (after the microtasks queued so far). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true));
  await tick();
  return done;
}

describe("a worker behind the simulated device", () => {
  test("a fast real run waits for the device: answered at the slot's end with the real logits; the device's time as runMs", async () => {
    const clock = new ManualClock();
    const worker = new HeldWorker();
    const runner = new SimulatedRunner(worker, new SimulatedDevice(PER_TOKEN, clock), work, clock);
    const answer = runner.run([row(3), row(5)]); // 2 rows × 5 tokens: 10 ms on the device
    worker.calls[0].finish(); // the real run started at once and is done
    expect(await settled(answer)).toBe(false);
    await clock.advance(9);
    expect(await settled(answer)).toBe(false);
    await clock.advance(10);
    const result = await answer;
    expect(Array.from(result.logits)).toEqual([3, 5]);
    expect(result.runMs).toBe(10);
  });

  test("a real run slower than the device: answered when the real run ends, not before", async () => {
    const clock = new ManualClock();
    const worker = new HeldWorker();
    const runner = new SimulatedRunner(worker, new SimulatedDevice(PER_TOKEN, clock), work, clock);
    const answer = runner.run([row(4)]);
    await clock.advance(50);
    expect(await settled(answer)).toBe(false);
    worker.calls[0].finish();
    expect((await answer).runMs).toBe(4);
  });

  test("two models share the one device: the second batch waits behind the first and its runMs counts the wait", async () => {
    const clock = new ManualClock();
    const device = new SimulatedDevice(PER_TOKEN, clock);
    const [a, b] = [new HeldWorker(), new HeldWorker()];
    const first = new SimulatedRunner(a, device, work, clock).run([row(6)]); // 0 → 6
    await clock.advance(2);
    const second = new SimulatedRunner(b, device, work, clock).run([row(3), row(3)]); // asked at 2, runs 6 → 12
    a.calls[0].finish();
    b.calls[0].finish();
    await clock.advance(6);
    expect((await first).runMs).toBe(6);
    expect(await settled(second)).toBe(false);
    await clock.advance(12);
    expect((await second).runMs).toBe(10);
    expect(device.stats()).toMatchObject({ runs: 2, rows: 3, busyMs: 12 });
  });

  test("the device is charged for the layout the rule gives each batch, and counts the packed runs", async () => {
    const clock = new ManualClock();
    const device = new SimulatedDevice(PER_TOKEN, clock);
    const worker = new HeldWorker();
    const seen: [string, number[]][] = [];
    // Packed up to 8 real tokens: [3, 5] packs (8 + 2 = 10 ms), [4, 6] runs padded (2 × 6 = 12 ms).
    const rule = (provider: string, lengths: readonly number[]) => {
      seen.push([provider, [...lengths]]);
      return lengths.reduce((n, l) => n + l, 0) <= 8 ? ("packed" as const) : ("padded" as const);
    };
    const runner = new SimulatedRunner(worker, device, work, clock, rule);
    const packed = runner.run([row(3), row(5)]);
    const padded = runner.run([row(4), row(6)]);
    for (const c of worker.calls) c.finish();
    await clock.advance(22);
    expect([(await packed).runMs, (await padded).runMs]).toEqual([10, 22]);
    expect(seen).toEqual([
      ["cuda", [3, 5]],
      ["cuda", [4, 6]],
    ]);
    expect(device.stats()).toMatchObject({ runs: 2, packedRuns: 1, rows: 4, busyMs: 22 });
  });

  test("the batcher still sees the worker's state, its changes and its provider (which its batch limits follow)", () => {
    const clock = new ManualClock();
    const worker = new HeldWorker();
    const runner = new SimulatedRunner(worker, new SimulatedDevice(PER_TOKEN, clock), work, clock);
    expect(runner.provider).toBe("cuda");
    worker.provider = "cpu"; // a restart fell back to the CPU
    expect(runner.provider).toBe("cpu");
    worker.up = false;
    expect(runner.up).toBe(false);
    const seen: RunnerState[] = [];
    runner.onState((state) => seen.push(state));
    for (const fn of worker.listeners) fn("up");
    expect(seen).toEqual(["up"]);
  });
});
