import { describe, expect, test } from "bun:test";
import { labelScores, rankedLabels, topLabel } from "./scoring.ts";

const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-12);

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
});
