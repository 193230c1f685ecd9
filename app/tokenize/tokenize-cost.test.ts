import { describe, expect, test } from "bun:test";
import { TokenizeCost } from "./tokenize-cost.ts";

describe("TokenizeCost: a fixed part per job and a part per character, each from the jobs that show it", () => {
  test("nothing measured: nothing is estimated, so nothing is refused by it", () => {
    const cost = new TokenizeCost();
    expect([cost.aloneMs(1_000_000), cost.waitMs(5, 5_000_000, 1_000_000, 2)]).toEqual([0, 0]);
  });

  test("after only short texts, a long one costs the measured fixed part, not their cost spread over their few characters", () => {
    const cost = new TokenizeCost();
    for (let i = 0; i < 20; i++) cost.measured(6, 5);
    // A line through (6 chars, 5 ms) would say 1 MB takes 833 s; the characters' part is simply not known yet.
    expect(cost.aloneMs(1_000_000)).toBeCloseTo(5, 6);
  });

  test("a long job's time less the fixed part gives the per-character cost; waits count the jobs and characters ahead", () => {
    const cost = new TokenizeCost();
    cost.measured(10, 2);
    cost.measured(1_000_000, 1002); // 1 µs a character on top of the 2 ms fixed part
    expect(cost.aloneMs(500_000)).toBeCloseTo(502, 6);
    // Two jobs of 1 MB queued, shared by two processes: (2 × 2 + 2,000,000 × 0.001) / 2, then this job alone.
    expect(cost.waitMs(2, 2_000_000, 10, 2)).toBeCloseTo(1002 + 2.01, 6);
    // Half the running work counts as still ahead.
    cost.started(1_000_000);
    expect(cost.waitMs(0, 0, 0, 1)).toBeCloseTo(501, 6);
    cost.finished(1_000_000);
    expect(cost.waitMs(0, 0, 0, 1)).toBe(0);
  });

  test("the newest measurements weigh most: the estimate follows a host grown slower", () => {
    const cost = new TokenizeCost();
    cost.measured(100_000, 100);
    for (let i = 0; i < 30; i++) cost.measured(100_000, 300);
    expect(cost.aloneMs(100_000)).toBeGreaterThan(290);
  });
});
