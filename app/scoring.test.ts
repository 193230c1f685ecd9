import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Activation } from "../lib/store/index.ts";
import { ORACLE } from "../testkit/shared.ts";
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
    const top = topLabel([0.1, 3, 3], ["a", "b", "c"], "softmax");
    expect(top.label).toBe("b");
    expect(close([top.score], [Math.exp(3) / (Math.exp(0.1) + 2 * Math.exp(3))])).toBe(true);
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

/** What the text-classification pipeline answered on an oracle's logits (../shared/fixtures/oracle). */
interface PipelineAnswers {
  logits: number[][];
  probs: number[][];
  labels: string[];
  scores: number[];
  /** Absent in the first oracles, which are all softmax heads. */
  activation?: Activation;
}

describe("scores equal the Hugging Face pipeline's own answers on every oracle's logits", () => {
  // Scoring does not depend on the architecture: every oracle folder counts, built by convert or not.
  for (const name of readdirSync(ORACLE).sort())
    test(name, () => {
      const want: PipelineAnswers = JSON.parse(readFileSync(join(ORACLE, name, "expected.json"), "utf8"));
      const config = JSON.parse(readFileSync(join(ORACLE, name, "config.json"), "utf8"));
      const labels = Object.keys(config.id2label)
        .sort((a, b) => Number(a) - Number(b))
        .map((id) => config.id2label[id]);
      const activation = want.activation ?? "softmax";
      for (const [row, logits] of want.logits.entries()) {
        const probs = labelScores(logits, activation);
        expect(probs).toHaveLength(want.probs[row].length);
        for (const [i, p] of probs.entries()) expect(Math.abs(p - want.probs[row][i])).toBeLessThan(1e-6);
        const top = topLabel(logits, labels, activation);
        expect(top.label).toBe(want.labels[row]);
        expect(Math.abs(top.score - want.scores[row])).toBeLessThan(1e-6);
        expect(rankedLabels(logits, labels, activation, 1)).toEqual([top]);
      }
    });
});
