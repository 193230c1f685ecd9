import { describe, expect, test } from "bun:test";
import { ModelBatcher } from "../batching/batcher.ts";
import type { BatchResult, BatchRunner, RunnerState } from "../batching/runner.ts";
import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { ModelFailed } from "./alone-runs.ts";
import { type FeederOptions, ModelFeeder } from "./feeder.ts";

/** Answers each batch on the next turn with logits [first id, length] per row, and records what it ran and what was queued. */
class RecordingRunner implements BatchRunner {
  up = true;
  provider: ExecutionProvider = "cpu";
  readonly batches: number[][] = [];
  readonly queuedAtRun: number[] = [];
  batcher?: ModelBatcher;
  private readonly listeners: ((state: RunnerState) => void)[] = [];
  onState(fn: (state: RunnerState) => void) {
    this.listeners.push(fn);
  }
  /** Goes down or comes back up, as a worker that died and restarted. */
  setUp(up: boolean) {
    this.up = up;
    for (const fn of this.listeners) fn(up ? "up" : "down");
  }
  async run(rows: RowRef[]): Promise<BatchResult> {
    this.batches.push(rows.map((r) => r.length));
    this.queuedAtRun.push(this.batcher?.queued ?? 0);
    await new Promise((r) => setImmediate(r));
    const logits = new Float32Array(rows.flatMap((r) => [new Int32Array(r.buffer, r.offset * 4, 1)[0], r.length]));
    return { logits, numLabels: 2, runMs: 1 };
  }
}

const row = (id: number, length: number): RowRef => {
  const buffer = new SharedArrayBuffer(length * 4);
  new Int32Array(buffer)[0] = id;
  return { buffer, offset: 0, length };
};

function feederOver(depth: number, options: Partial<FeederOptions> = {}) {
  const runner = new RecordingRunner();
  const opts = { maxBatchSize: 8, maxBatchTokens: 64, maxQueueDelayMs: 0 };
  const batcher = new ModelBatcher("m", [runner], opts, () => ({ maxBatchSize: 8, maxBatchTokens: 64 }));
  runner.batcher = batcher;
  return {
    runner,
    batcher,
    feeder: new ModelFeeder(batcher, [runner], { depth, signal: new AbortController().signal, ...options }),
  };
}

describe("ModelFeeder", () => {
  test("rows in random order are batched with rows of their length through a short queue, each answered in its own place", async () => {
    const lengths = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 30));
    const { runner, feeder } = feederOver(24);
    const answers = await Promise.all(feeder.feed(lengths.map((n, i) => row(i, n))));
    expect(answers.map((a) => [a.logits[0], a.logits[1]])).toEqual(lengths.map((n, i) => [i, n]));
    // Rows of 1 to 30 tokens, in random order, through a queue of 24: batches of (nearly) equal lengths.
    const real = runner.batches.flat().reduce((n, l) => n + l, 0);
    const padded = runner.batches.reduce((n, b) => n + Math.max(...b) * b.length, 0);
    expect(real / padded).toBeGreaterThan(0.95);
    expect(runner.batches.flat().toSorted((a, b) => a - b)).toEqual(lengths.toSorted((a, b) => a - b));
  });

  test("the batcher's queue holds at most `depth` rows, and the rows fed later queue after the earlier ones", async () => {
    const { runner, feeder } = feederOver(16);
    const first = feeder.feed(Array.from({ length: 60 }, (_, i) => row(i, 30 - (i % 20))));
    const second = feeder.feed(Array.from({ length: 60 }, (_, i) => row(100 + i, 1 + (i % 5))));
    await Promise.all([...first, ...second]);
    expect(Math.max(...runner.queuedAtRun)).toBeLessThanOrEqual(16);
    // The second chunk's rows (lengths 1..5) run after every row of the first (lengths 11..30).
    const firstBatches = runner.batches.findIndex((b) => b.some((n) => n <= 5));
    expect(runner.batches.slice(0, firstBatches).flat().length).toBe(60);
  });

  test("while its runner is down, rows wait in the feeder, not in the batcher (which would send them to the down runner); they go on when it is back up", async () => {
    const { runner, batcher, feeder } = feederOver(8);
    runner.setUp(false);
    const answers = feeder.feed(Array.from({ length: 20 }, (_, i) => row(i, 2)));
    await new Promise((r) => setImmediate(r));
    expect(batcher.queued).toBe(0);
    expect(feeder.pending).toBe(20);
    expect(runner.batches).toEqual([]);
    runner.setUp(true);
    const answered = await Promise.all(answers);
    expect(answered.map((a) => a.logits[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(runner.batches.flat().length).toBe(20);
  });

  test("while held (rows retried after a crash run alone), rows wait; resume() lets them go", async () => {
    let held = true;
    const { feeder } = feederOver(8, { held: () => held });
    const answers = feeder.feed(Array.from({ length: 5 }, (_, i) => row(i, 2)));
    await new Promise((r) => setImmediate(r));
    expect(feeder.pending).toBe(5);
    held = false;
    feeder.resume();
    expect((await Promise.all(answers)).map((a) => a.logits[0])).toEqual([0, 1, 2, 3, 4]);
  });

  test("rows wait for a runner at most backUpWithinMs, then fail with ModelFailed, and so do rows fed later", async () => {
    const { runner, feeder } = feederOver(8, { backUpWithinMs: 30 });
    runner.setUp(false);
    const started = performance.now();
    const settled = await Promise.allSettled(feeder.feed([row(0, 2), row(1, 3)]));
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    for (const s of settled) {
      expect(s.status).toBe("rejected");
      if (s.status === "rejected") {
        expect(s.reason).toBeInstanceOf(ModelFailed);
        expect(s.reason.message).toBe("no worker of the model was up for 30 ms: its rows were not run");
      }
    }
    runner.setUp(true);
    await expect(feeder.feed([row(2, 2)])[0]).rejects.toBeInstanceOf(ModelFailed);
    expect(runner.batches).toEqual([]);
  });

  test("when the job stops, rows not yet handed to the batcher are rejected with its reason", async () => {
    const runner = new RecordingRunner();
    const opts = { maxBatchSize: 2, maxBatchTokens: 64, maxQueueDelayMs: 0 };
    const batcher = new ModelBatcher("m", [runner], opts, () => ({ maxBatchSize: 2, maxBatchTokens: 64 }));
    const stop = new AbortController();
    const feeder = new ModelFeeder(batcher, [runner], { depth: 2, signal: stop.signal });
    const answers = feeder.feed(Array.from({ length: 10 }, (_, i) => row(i, 3)));
    stop.abort(new Error("stopped"));
    const settled = await Promise.allSettled(answers);
    expect(settled.filter((s) => s.status === "rejected").length).toBeGreaterThanOrEqual(6);
    expect(feeder.pending).toBe(0);
  });
});
