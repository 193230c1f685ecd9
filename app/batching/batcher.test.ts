import { describe, expect, test } from "bun:test";
import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { type AnsweredBatch, type Clock, type LimitsFor, ModelBatcher } from "./batcher.ts";
import type { BatchLimits } from "./policy.ts";
import type { BatchResult, BatchRunner, RunnerState } from "./runner.ts";

/** A runner whose batches finish only when the test says so (held promises, no sleeps). */
class HeldRunner implements BatchRunner {
  up = true;
  provider: ExecutionProvider = "cuda";
  private listeners: ((state: RunnerState) => void)[] = [];
  onState(fn: (state: RunnerState) => void) {
    this.listeners.push(fn);
  }
  comeBack() {
    this.up = true;
    this.listeners.forEach((fn) => {
      fn("up");
    });
  }
  readonly calls: { rows: RowRef[]; finish: () => void; fail: (e: Error) => void }[] = [];
  run(rows: RowRef[]): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      // Logits of row i: [first id, length], so each answer shows which row it belongs to.
      const logits = new Float32Array(
        rows.flatMap((r) => [new Int32Array(r.buffer, r.offset * 4, r.length)[0], r.length]),
      );
      this.calls.push({ rows, finish: () => resolve({ logits, numLabels: 2, runMs: 1 }), fail: reject });
    });
  }
}

class FakeClock implements Clock {
  time = 0;
  private timers: { at: number; fn: () => void }[] = [];
  now = () => this.time;
  at = (at: number, fn: () => void) => {
    const t = { at, fn };
    this.timers.push(t);
    return () => (this.timers = this.timers.filter((x) => x !== t));
  };
  advance(to: number) {
    this.time = to;
    const due = this.timers.filter((t) => t.at <= to);
    this.timers = this.timers.filter((t) => t.at > to);
    due.forEach((t) => {
      t.fn();
    });
  }
  get pending() {
    return this.timers.map((t) => t.at);
  }
}

const row = (first: number, length: number): RowRef => {
  const buffer = new SharedArrayBuffer(length * 4);
  new Int32Array(buffer)[0] = first;
  return { buffer, offset: 0, length };
};
const opts = { maxBatchSize: 3, maxBatchTokens: 1000, maxQueueDelayMs: 10 };
/** The model plan's limits: none beyond the policy's, except the CPU's where a test gives them. */
const limits =
  (cpu?: BatchLimits): LimitsFor =>
  (provider) =>
    (provider === "cpu" && cpu) || { maxBatchSize: Infinity, maxBatchTokens: Infinity };
const tick = () => new Promise((r) => setImmediate(r));

describe("ModelBatcher", () => {
  test("an idle model runs the first row at once, alone", () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    b.submit([row(1, 5)]);
    expect(runner.calls.map((c) => c.rows.length)).toEqual([1]);
  });

  test("a request's rows submitted together leave as one batch on an idle model", () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    b.submit([row(1, 5), row(2, 5), row(3, 5)]);
    expect(runner.calls.map((c) => c.rows.length)).toEqual([3]);
  });

  test("each row is answered with where its time went: its own wait in the queue and its batch's run", async () => {
    const runner = new HeldRunner();
    const clock = new FakeClock();
    const b = new ModelBatcher("m", [runner], opts, limits(), clock);
    const first = b.submit([row(1, 5)])[0]; // idle: dispatched at once
    clock.advance(4);
    const second = b.submit([row(2, 5)])[0]; // queued at 4 behind the running batch
    clock.advance(7);
    runner.calls[0].finish(); // the runner reports runMs 1
    await tick();
    clock.advance(9);
    runner.calls[1].finish();
    expect(await first).toMatchObject({ queueMs: 0, runMs: 1 });
    // Dispatched when the first batch finished, at 7: it waited 3.
    expect(await second).toMatchObject({ queueMs: 3, runMs: 1 });
  });

  test("rows arriving while a batch runs leave together when it finishes, each with its own logits", async () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    const first = b.submit([row(1, 5)])[0];
    const rest = [
      b.submit([row(2, 6)])[0],
      b.submit([row(3, 7)])[0],
      b.submit([row(4, 8)])[0],
      b.submit([row(5, 9)])[0],
    ];
    expect(runner.calls).toHaveLength(1);
    expect(b.queued).toBe(4);
    runner.calls[0].finish();
    expect(Array.from((await first).logits)).toEqual([1, 5]);
    await tick();
    // The batch size is 3: rows 2-4 leave now, row 5 after them.
    expect(runner.calls[1].rows.map((r) => r.length)).toEqual([6, 7, 8]);
    runner.calls[1].finish();
    await tick();
    runner.calls[2].finish();
    expect((await Promise.all(rest)).map((a) => Array.from(a.logits))).toEqual([
      [2, 6],
      [3, 7],
      [4, 8],
      [5, 9],
    ]);
  });

  test("with a second worker free, a partial batch waits for the queue delay, then leaves", () => {
    const a = new HeldRunner();
    const c = new HeldRunner();
    const clock = new FakeClock();
    const b = new ModelBatcher("m", [a, c], opts, limits(), clock);
    b.submit([row(1, 5)]); // idle: runs at once on one worker
    clock.advance(2);
    b.submit([row(2, 5)]);
    expect(a.calls.length + c.calls.length).toBe(1);
    expect(clock.pending).toEqual([12]);
    clock.advance(12);
    expect(a.calls.length + c.calls.length).toBe(2);
  });

  test("with a second worker free, a full batch leaves without waiting", () => {
    const a = new HeldRunner();
    const c = new HeldRunner();
    const b = new ModelBatcher("m", [a, c], opts, limits(), new FakeClock());
    for (let i = 0; i < 4; i++) b.submit([row(i, 5)]);
    expect([...a.calls, ...c.calls].map((x) => x.rows.length).sort()).toEqual([1, 3]);
  });

  test("a failed batch rejects only its own rows; the next batch still runs", async () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    const doomed = b.submit([row(1, 5)])[0];
    const fine = b.submit([row(2, 5)])[0];
    runner.calls[0].fail(new Error("boom"));
    await expect(doomed).rejects.toThrow("boom");
    await tick();
    runner.calls[1].finish();
    expect(Array.from((await fine).logits)).toEqual([2, 5]);
    expect(runner.calls.length).toBe(2);
    expect(b.stats.answeredBatches).toBe(1);
  });

  test("an aborted request's queued rows leave the queue unrun, rejected with the abort reason; its running rows finish", async () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    const request = new AbortController();
    const [running] = b.submit([row(1, 5)], request.signal);
    const [queuedA, queuedB] = b.submit([row(2, 5), row(3, 5)], request.signal);
    const other = b.submit([row(4, 5)])[0];
    expect(b.queued).toBe(3);
    request.abort(new Error("deadline"));
    await expect(queuedA).rejects.toThrow("deadline");
    await expect(queuedB).rejects.toThrow("deadline");
    expect(b.queued).toBe(1);
    expect(b.stats.cancelled).toBe(2);
    runner.calls[0].finish();
    expect(Array.from((await running).logits)).toEqual([1, 5]);
    await tick();
    // Only the other request's row is computed next.
    expect(runner.calls[1].rows.map((r) => new Int32Array(r.buffer, r.offset * 4, 1)[0])).toEqual([4]);
    runner.calls[1].finish();
    await other;
  });

  test("a request whose signal is already aborted is rejected without entering the queue", async () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], opts, limits(), new FakeClock());
    const [answer] = b.submit([row(1, 5)], AbortSignal.abort(new Error("gone")));
    await expect(answer).rejects.toThrow("gone");
    expect(runner.calls).toHaveLength(0);
  });

  test("batches go to a runner that is up while another restarts", () => {
    const down = new HeldRunner();
    down.up = false;
    const live = new HeldRunner();
    const clock = new FakeClock();
    const b = new ModelBatcher("m", [live, down], opts, limits(), clock);
    b.submit([row(1, 5)]);
    expect([live.calls.length, down.calls.length]).toEqual([1, 0]);
    // The live runner is busy, the other down: the row waits rather than failing.
    b.submit([row(2, 5)]);
    expect(b.queued).toBe(1);
    expect(down.calls).toHaveLength(0);
    clock.advance(20);
    expect(down.calls).toHaveLength(0);
    // The restarted runner takes it as soon as it is up (the row has waited past the queue delay).
    down.comeBack();
    expect(down.calls).toHaveLength(1);
  });

  test("with no runner up at all, rows are handed over at once (the runner rejects them: a fast 503, no wait)", () => {
    const down = new HeldRunner();
    down.up = false;
    const b = new ModelBatcher("m", [down], opts, limits(), new FakeClock());
    b.submit([row(1, 5)]);
    expect(down.calls).toHaveLength(1);
  });

  test("a batch is sized for the runner that takes it: a runner with a lower cap of its own gets fewer rows", async () => {
    const clock = new FakeClock();
    const gpu = new HeldRunner();
    const cpu = new HeldRunner();
    cpu.provider = "cpu"; // a worker that fell back to the CPU provider
    const b = new ModelBatcher(
      "m",
      [gpu, cpu],
      { ...opts, maxBatchSize: 8 },
      limits({ maxBatchSize: 1, maxBatchTokens: 1000 }),
      clock,
    );
    b.submit([row(1, 5), row(2, 5), row(3, 5)]);
    expect(gpu.calls.map((c) => c.rows.length)).toEqual([3]); // idle: all at once, on the first runner
    b.submit([row(4, 5), row(5, 5), row(6, 5)]);
    clock.advance(10); // the queue delay: the second runner takes what it can
    expect(cpu.calls.map((c) => c.rows.length)).toEqual([1]);
    expect(b.queued).toBe(2);
    cpu.calls[0].finish();
    await tick();
    cpu.calls[1].finish();
    await tick();
    expect(cpu.calls.map((c) => c.rows.length)).toEqual([1, 1, 1]);
    expect(b.queued).toBe(0);
  });

  test("a runner's token budget (the CPU's): rows of similar length share a batch up to it; a longer row runs alone", async () => {
    const clock = new FakeClock();
    const cpu = new HeldRunner();
    cpu.provider = "cpu";
    const b = new ModelBatcher(
      "m",
      [cpu],
      { ...opts, maxBatchSize: 32 },
      limits({ maxBatchSize: 8, maxBatchTokens: 64 }),
      clock,
    );
    b.submit([row(1, 16)]); // idle: runs at once
    b.submit([row(2, 16), row(3, 100), row(4, 15), row(5, 30), row(6, 14), row(7, 16)]);
    const sent = () => cpu.calls.map((c) => c.rows.map((r) => new Int32Array(r.buffer, 0, 1)[0]));
    for (let i = 0; i < 4; i++) {
      cpu.calls[i].finish();
      await tick();
    }
    // The oldest (16) with the three closest in length: 4 × 16 = 64 tokens, the budget; then the oldest left,
    // 100 tokens, over the budget on its own: alone; then the 30.
    expect(sent()).toEqual([[1], [2, 4, 6, 7], [3], [5]]);
    expect(b.stats.paddedTokens).toBe(16 + 64 + 100 + 30);
  });

  test("a packed runner (the CPU's packed graph): the oldest rows in order up to the budget, no padding counted", async () => {
    const clock = new FakeClock();
    const cpu = new HeldRunner();
    cpu.provider = "cpu";
    const limitsOf = limits({ maxBatchSize: 8, maxBatchTokens: 64, packed: true });
    const b = new ModelBatcher("m", [cpu], { ...opts, maxBatchSize: 32 }, limitsOf, clock);
    const answered: AnsweredBatch[] = [];
    b.onAnswered((a) => answered.push(a));
    b.submit([row(1, 16)]); // idle: runs at once
    b.submit([row(2, 16), row(3, 100), row(4, 15), row(5, 30), row(6, 14), row(7, 16)]);
    const sent = () => cpu.calls.map((c) => c.rows.map((r) => new Int32Array(r.buffer, 0, 1)[0]));
    for (let i = 0; i < 3; i++) {
      cpu.calls[i].finish();
      await tick();
    }
    // In queue order: 16 + 100 would pass 64, so the 100 waits; 16 + 15 + 30 = 61 tokens cost 61.6; the 14 would
    // make 75. Then the 100, the oldest, alone; then the rest.
    expect(sent()).toEqual([[1], [2, 4, 5], [3], [6, 7]]);
    expect(answered.map((a) => [a.packed, a.realTokens, a.paddedTokens])).toEqual([
      [true, 16, 16],
      [true, 61, 61],
      [true, 100, 100],
    ]);
    // Dispatched so far, the last batch (14 + 16) included: padding efficiency 1.
    expect([b.stats.realTokens, b.stats.paddedTokens]).toEqual([207, 207]);
  });

  test("fair order: a large request alternates with the small ones behind it instead of running whole ahead of them", async () => {
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], { ...opts, maxBatchSize: 1 }, limits(), new FakeClock());
    b.submit(Array.from({ length: 10 }, (_, i) => row(100 + i, 5))); // A: its first row runs at once
    b.submit([row(1, 5)]); // B, then C, arriving behind A's nine queued rows
    b.submit([row(2, 5)]);
    const order: number[] = [];
    for (let i = 0; i < 11; i++) {
      const call = runner.calls[i];
      order.push(new Int32Array(call.rows[0].buffer, 0, 1)[0]);
      call.finish();
      await tick();
    }
    // A's rows and the small requests' interleave: B and C leave within the first rounds, not after A's ten.
    expect(order.slice(0, 5)).toEqual([100, 101, 1, 2, 102]);
    expect(order.filter((id) => id >= 100)).toEqual(Array.from({ length: 9 }, (_, i) => 100 + i));
  });

  test("expected wait: unknown (0) until a batch is measured, then the queued and running work at the measured cost", async () => {
    const clock = new FakeClock();
    const runner = new HeldRunner();
    const b = new ModelBatcher("m", [runner], { ...opts, maxBatchSize: 1 }, limits(), clock);
    expect(b.expectedWaitMs(100)).toBe(0);
    b.submit([row(1, 10)]); // runs; the runner reports runMs 1 for 10 padded tokens: 0.1 ms per token
    runner.calls[0].finish();
    await tick();
    expect(b.aloneMs(100)).toBeCloseTo(10);
    b.submit([row(2, 20)]); // running: half its 20 tokens counted
    b.submit([row(3, 30)]); // queued
    expect(b.expectedWaitMs(40)).toBeCloseTo((30 + 20 / 2 + 40) * 0.1);
  });
});
