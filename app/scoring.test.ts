import { describe, expect, test } from "bun:test";
import { labelScores, rankedLabels, topLabel } from "./scoring.ts";

/** Within float32's precision: the scores are float32 values, as numpy's. */
const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-7);

describe("scores as the text-classification pipeline computes them", () => {
  test("softmax over the labels, stable for large logits", () => {
    expect(
      close(labelScores([1, 2, 3], "softmax"), [0.09003057317038046, 0.24472847105479767, 0.6652409557748219]),
    ).toBe(true);
    expect(labelScores([1000, 1000], "softmax")).toEqual([0.5, 0.5]);
  });

  test("sigmoid per label (multi-label heads, single-label heads): scores need not sum to 1", () => {
    expect(close(labelScores([0, 2, -2], "sigmoid"), [0.5, 0.8807970779778823, 0.11920292202211755])).toBe(true);
  });

  test("the default answer: the arg-max label and its score, the first one on a tie", () => {
    expect(topLabel([0.1, 3, 3], ["a", "b", "c"], "softmax")).toEqual({
      label: "b",
      score: labelScores([0.1, 3, 3], "softmax")[1],
    });
    expect(topLabel([-1, 0.5], ["x", "y"], "sigmoid").label).toBe("y");
  });

  test("top_k: labels by score, highest first, ties in label order; 'all' gives every label", () => {
    const ranked = rankedLabels([0, 2, 2, -1], ["a", "b", "c", "d"], "sigmoid", "all");
    expect(ranked.map((r) => r.label)).toEqual(["b", "c", "a", "d"]);
    expect(rankedLabels([0, 2, 2, -1], ["a", "b", "c", "d"], "sigmoid", 2).map((r) => r.label)).toEqual(["b", "c"]);
    expect(rankedLabels([5, 1], ["a", "b"], "softmax", 9)).toHaveLength(2);
  });

  test("in float32, as numpy: labels whose scores round to the same float32 tie, and the first wins", () => {
    // sigmoid(17) and sigmoid(19) are both 1.0 in float32 (float64 would pick the second).
    expect(topLabel([17, 19], ["a", "b"], "sigmoid")).toEqual({ label: "a", score: 1 });
    expect(rankedLabels([17, 19], ["a", "b"], "sigmoid", "all").map((r) => r.label)).toEqual(["a", "b"]);
    for (const s of labelScores([0.3, -1.7, 2.2], "softmax")) expect(Math.fround(s)).toBe(s);
  });
});
