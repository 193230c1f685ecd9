import { describe, expect, test } from "bun:test";
import { batchesAtSaturation } from "./batch-plan.ts";

describe("batchesAtSaturation", () => {
  const lengths = [20, 90, 22, 25, 300, 21, 88, 19];

  test("a budget of padded tokens: the oldest row with the rows closest in length, within the budget", () => {
    const batches = batchesAtSaturation(lengths, { maxBatchSize: 32, maxBatchTokens: 100 }, 8);
    // 20 with 19, 21, 22 (4 × 22 = 88; a 25 would make 5 × 25 = 125); 90 alone (2 × 90 > 100);
    // 25 alone is left with 300 and 88 (2 × 88 > 100); 300 over the budget alone; 88 alone.
    expect(batches).toEqual([[0, 2, 5, 7], [1], [3], [4], [6]]);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
  });

  test("the window is the queue the policy sees: one row queued means batches of one, in order", () => {
    expect(batchesAtSaturation(lengths, { maxBatchSize: 32, maxBatchTokens: 10_000 }, 1)).toEqual(
      lengths.map((_, i) => [i]),
    );
  });

  test("the row cap holds whatever the budget", () => {
    const batches = batchesAtSaturation(lengths, { maxBatchSize: 2, maxBatchTokens: 10_000 }, 8);
    expect(batches.every((b) => b.length <= 2)).toBe(true);
    expect(batches.flat()).toHaveLength(lengths.length);
  });
});
