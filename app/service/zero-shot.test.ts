import { describe, expect, test } from "bun:test";
import { entailmentId, parseLabels, ranked, zeroShotScores } from "./zero-shot.ts";

describe("zero-shot: the pipeline's rules", () => {
  test("entailment is the first label starting with 'entail', any case; none is -1", () => {
    expect(entailmentId(["entailment", "neutral", "contradiction"])).toBe(0);
    expect(entailmentId(["CONTRADICTION", "NEUTRAL", "ENTAILMENT"])).toBe(2);
    expect(entailmentId(["negative", "positive"])).toBe(-1);
  });

  test("a string of labels is split on commas and trimmed, empty ones dropped; a list is taken as it is", () => {
    expect(parseLabels(" sports, politics ,, tech ")).toEqual(["sports", "politics", "tech"]);
    expect(parseLabels(["a, b", "c"])).toEqual(["a, b", "c"]);
  });

  test("single-label: softmax of the entailment logits across labels; multi-label: softmax of [contradiction, entailment] per label", () => {
    // [entailment, neutral, contradiction] logits for three labels.
    const logits = [
      [2, 0, -1],
      [0, 1, 1],
      [-1, 0, 3],
    ];
    const e = [Math.exp(2), Math.exp(0), Math.exp(-1)];
    const across = e.map((x) => x / (e[0] + e[1] + e[2]));
    zeroShotScores(logits, 0, false).forEach((s, i) => {
      expect(s).toBeCloseTo(across[i], 6);
    });
    // Entailment at 0: contradiction is the last logit.
    const each = logits.map((l) => Math.exp(l[0]) / (Math.exp(l[2]) + Math.exp(l[0])));
    zeroShotScores(logits, 0, true).forEach((s, i) => {
      expect(s).toBeCloseTo(each[i], 6);
    });
    // Entailment elsewhere: contradiction is the first.
    expect(zeroShotScores([[1, 0, 2]], 2, false)[0]).toBeCloseTo(Math.exp(2) / (Math.exp(1) + Math.exp(2)), 6);
  });

  test("ranked highest first; equal scores in reverse label order, as reversed(argsort) gives them", () => {
    expect(ranked(["a", "b", "c", "d"], [0.1, 0.4, 0.1, 0.4])).toEqual({
      labels: ["d", "b", "c", "a"],
      scores: [0.4, 0.4, 0.1, 0.1],
    });
  });
});
