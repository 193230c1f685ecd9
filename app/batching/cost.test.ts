import { describe, expect, test } from "bun:test";
import { CostEstimate } from "./cost.ts";

/** A worker whose batches cost `fixedMs` plus `msPerToken` per padded token. */
const worker = (fixedMs: number, msPerToken: number) => (tokens: number) => fixedMs + msPerToken * tokens;
/** The CPU's default CPU_MAX_BATCH_TOKENS. */
const CPU_BATCH = 256;

function measuredOn(cost: (tokens: number) => number, sizes: number[], into = new CostEstimate()): CostEstimate {
  for (const t of sizes) into.measured(t, cost(t));
  return into;
}
const rounds = (n: number, sizes: number[]) => Array.from({ length: n }, () => sizes).flat();

describe("cost estimate", () => {
  test("unknown (0) until a batch is answered", () => {
    const c = new CostEstimate();
    expect(c.model()).toBeNull();
    expect([c.aloneMs(4096, CPU_BATCH), c.waitMs(100, 100, 1, CPU_BATCH)]).toEqual([0, 0]);
  });

  test("after short traffic, an 8 × 512-token request is estimated at its real 26 s, not the 31 s that refused it", () => {
    // Batches of 16 to 64 tokens on a worker costing 40 ms a batch + 6.3 ms a token: the short
    // batches' 7.55 ms a token (at 32) is mostly the fixed part.
    const c = measuredOn(worker(40, 6.3), rounds(5, [16, 32, 48, 64]));
    const fit = c.model()!;
    expect(fit.fixedMs).toBeCloseTo(40, 6);
    expect(fit.msPerToken).toBeCloseTo(6.3, 6);
    // 4096 tokens in 16 batches of 256: 16 × 40 + 4096 × 6.3 = 26 444.8 ms, within a 30 s deadline.
    expect(c.aloneMs(8 * 512, CPU_BATCH)).toBeCloseTo(26_444.8, 3);
  });

  test("batches all of one size cannot tell the parts apart: the cost goes on the tokens, as before (the refused 31 s)", () => {
    const c = measuredOn(worker(40, 6.3), rounds(5, [32]));
    expect(c.model()).toEqual({ fixedMs: 0, msPerToken: expect.closeTo(7.55, 6) });
    expect(c.aloneMs(8 * 512, CPU_BATCH)).toBeCloseTo(30_924.8, 3);
  });

  test("decay: after the worker grows faster, the estimate follows the recent batches", () => {
    const c = measuredOn(worker(40, 6.3), rounds(5, [16, 32, 48, 64]));
    measuredOn(worker(10, 2), rounds(15, [16, 32, 48, 64]), c);
    // The new cost alone: 16 × 10 + 4096 × 2 = 8352 ms; the old one's 26 445 has all but faded
    // (60 batches later its weight is 0.95^60 ≈ 5%): 8896 ms.
    expect(c.aloneMs(4096, CPU_BATCH)).toBeCloseTo(8895.7, 1);
  });

  test("the wait: queued and new work in batches, half of each running batch, shared by the runners", () => {
    const c = measuredOn(worker(40, 6.3), rounds(5, [16, 32, 48, 64]));
    c.started(200);
    // Running: (40 + 200 × 6.3) / 2 = 650; queued 300 + new 100 = 400 tokens in 2 batches: 80 + 2520.
    expect(c.waitMs(300, 100, 1, CPU_BATCH)).toBeCloseTo(650 + 80 + 2520, 6);
    expect(c.waitMs(300, 100, 2, CPU_BATCH)).toBeCloseTo((650 + 80 + 2520) / 2, 6);
    // Nothing queued or new: only what is running is ahead.
    expect(c.waitMs(0, 0, 1, CPU_BATCH)).toBeCloseTo(650, 6);
    // Without a token cap (MAX_BATCH_TOKENS unbounded), work still costs at least one batch.
    expect(c.aloneMs(400, Infinity)).toBeCloseTo(40 + 400 * 6.3, 6);
    c.finished(200);
    expect(c.waitMs(0, 0, 1, CPU_BATCH)).toBe(0);
  });

  test("noise never makes a part negative", () => {
    // Longer batches measured faster than short ones (a cold first run): no negative per-token cost.
    const slower = measuredOn((t) => (t === 16 ? 50 : 20), [16, 64]);
    // The mean batch's cost, the older measurement weighted 0.95: (0.95 × 50 + 20) / 1.95.
    expect(slower.model()).toEqual({ fixedMs: expect.closeTo(67.5 / 1.95, 9), msPerToken: 0 });
    // A line through below the origin: all the cost on the tokens instead (least squares through
    // the origin, the older measurement weighted 0.95).
    const steep = measuredOn((t) => (t === 16 ? 10 : 100), [16, 64]);
    expect(steep.model()).toEqual({
      fixedMs: 0,
      msPerToken: expect.closeTo((0.95 * 16 * 10 + 64 * 100) / (0.95 * 16 * 16 + 64 * 64), 9),
    });
  });
});
