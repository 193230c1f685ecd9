import { describe, expect, test } from "bun:test";
import { batchCost, decide, selectBatch, type QueuedRow, withinLimits } from "./policy.ts";

const opts = { maxBatchSize: 4, maxBatchTokens: 100, maxQueueDelayMs: 10 };
const rows = (...lengths: number[]): QueuedRow[] => lengths.map((length, i) => ({ enqueuedAt: i, length }));

describe("selectBatch", () => {
  test("always includes the oldest row", () => {
    expect(selectBatch(rows(50, 3, 3, 3), { ...opts, maxBatchTokens: 60 }).rows).toContain(0);
  });
  test("groups rows of similar length around the oldest one", () => {
    // oldest is 10 tokens: the 9, 11 and 12 join it, not the 40 or the 2.
    expect(selectBatch(rows(10, 40, 9, 2, 11, 12), opts).rows).toEqual([0, 2, 4, 5]);
  });
  test("stops at the batch size", () => {
    expect(selectBatch(rows(5, 5, 5, 5, 5, 5), opts)).toEqual({ rows: [0, 1, 2, 3], limitedBy: "size" });
  });
  test("a batch filled exactly by the whole queue counts as full", () => {
    expect(selectBatch(rows(5, 5, 5, 5), opts)).toEqual({ rows: [0, 1, 2, 3], limitedBy: "size" });
  });
  test("stops at the padded-token budget", () => {
    // 30 × 3 = 90 fits, 30 × 4 = 120 does not.
    expect(selectBatch(rows(30, 30, 30, 30), opts)).toEqual({ rows: [0, 1, 2], limitedBy: "tokens" });
  });
  test("prefers a shorter neighbour that still fits over a longer one that does not", () => {
    // oldest 40; 41 would make 41×2=82 ok, then 60 → 60×3 > 100, but 20 → 41×3 = 123 > 100 too: stop at 2.
    expect(selectBatch(rows(40, 60, 41, 20), opts).rows).toEqual([0, 2]);
    // oldest 20 with a budget of 90: 10 and 30 join (30 × 3 = 90); 90 would need 90 × 4.
    expect(selectBatch(rows(20, 30, 10, 90), { ...opts, maxBatchTokens: 90 }).rows).toEqual([0, 1, 2]);
  });
  test("a single row longer than the budget is still sent, alone", () => {
    expect(selectBatch(rows(512, 512), opts)).toEqual({ rows: [0], limitedBy: "tokens" });
  });
  test("an empty queue selects nothing", () => {
    expect(selectBatch([], opts).rows).toEqual([]);
  });
});

describe("decide", () => {
  test("an idle model sends at once: no added latency", () => {
    expect(decide(rows(5), 0, 0, 1, opts)).toEqual({ kind: "send", rows: [0], reason: "idle" });
  });
  test("all slots busy: wait for a completion, no timer", () => {
    expect(decide(rows(5, 5, 5, 5, 5), 100, 1, 1, opts)).toEqual({ kind: "wait", wakeAt: null });
  });
  test("nothing queued: wait, no timer", () => {
    expect(decide([], 0, 0, 2, opts)).toEqual({ kind: "wait", wakeAt: null });
  });
  test("a free slot while another batch runs: wait for a fuller batch until the oldest row's delay", () => {
    const q: QueuedRow[] = [
      { enqueuedAt: 100, length: 5 },
      { enqueuedAt: 103, length: 5 },
    ];
    expect(decide(q, 104, 1, 2, opts)).toEqual({ kind: "wait", wakeAt: 110 });
    expect(decide(q, 110, 1, 2, opts)).toEqual({ kind: "send", rows: [0, 1], reason: "delay" });
  });
  test("a free slot and a full batch: send before the delay", () => {
    expect(decide(rows(5, 5, 5, 5, 5), 0, 1, 2, opts)).toEqual({ kind: "send", rows: [0, 1, 2, 3], reason: "full" });
  });
  test("a free slot and the token budget reached: send before the delay", () => {
    expect(decide(rows(60, 60), 0, 1, 2, opts)).toEqual({ kind: "send", rows: [0], reason: "tokens" });
  });
});

describe("withinLimits", () => {
  test("each field the stricter of the two; no limits of its own, the options unchanged", () => {
    expect(withinLimits(opts, undefined)).toBe(opts);
    expect(withinLimits(opts, { maxBatchSize: 2, maxBatchTokens: 1000 })).toEqual({ ...opts, maxBatchSize: 2 });
    expect(withinLimits(opts, { maxBatchSize: 64, maxBatchTokens: 50 })).toEqual({ ...opts, maxBatchTokens: 50 });
    expect(withinLimits(opts, { maxBatchSize: 64, maxBatchTokens: 1000 })).toBe(opts);
  });
});

describe("selectBatch, packed (rows concatenated: padding costs nothing)", () => {
  const packed = { ...opts, packed: true };

  test("takes the oldest rows in queue order, whatever their lengths", () => {
    // Padded, the 10 would gather the 9, 11 and 12; packed, the next rows in line join it.
    expect(selectBatch(rows(10, 40, 9, 2, 11, 12), packed)).toEqual({ rows: [0, 1, 2, 3], limitedBy: "size" });
  });

  test("a row that would pass the budget waits for the next batch; shorter rows behind it still join", () => {
    expect(selectBatch(rows(30, 80, 30, 20, 15), { ...packed, maxBatchTokens: 90 })).toEqual({
      rows: [0, 2, 3],
      limitedBy: "tokens",
    });
  });

  test("the budget counts the tokens plus attention per row, square in the longest row", () => {
    // 3 × 30 tokens cost 90 + 3 × 30²/4608 ≈ 90.6 ≤ 100; a 10 more would make 100 + 4 × 30²/4608 ≈ 100.8.
    expect(selectBatch(rows(30, 30, 30, 10), packed)).toEqual({ rows: [0, 1, 2], limitedBy: "tokens" });
    // At the CPU's default budget of 256: one row of 243 fits; 200 + 44 tokens do not (2 × 200² of attention).
    expect(batchCost([243], true)).toBeLessThanOrEqual(256);
    expect(batchCost([200, 44], true)).toBeGreaterThan(256);
    expect(batchCost([40, 40, 40, 40, 40, 40], true)).toBeLessThan(243);
    expect(batchCost([200, 44], false)).toBe(400);
  });

  test("a single row longer than the budget is still sent, alone", () => {
    expect(selectBatch(rows(512, 3), packed)).toEqual({ rows: [0], limitedBy: "tokens" });
  });

  test("withinLimits takes packed from the runner's limits", () => {
    expect(withinLimits(opts, { maxBatchSize: 64, maxBatchTokens: 1000, packed: true })).toEqual({
      ...opts,
      packed: true,
    });
  });
});
