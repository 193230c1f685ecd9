import type { Activation } from "../lib/store/index.ts";

export interface ModelAnswer {
  score: number;
  label: string;
}

/** How many labels to answer per model: the top one (the challenge's `{score, label}`), N, or all. */
export type TopK = { kind: "top" } | { kind: "ranked"; k: number | "all" };

/**
 * The probability of each label as the Hugging Face text-classification pipeline computes it: in
 * float32, as numpy does on the model's float32 logits (each step rounded to float32), so that two
 * labels whose scores round to the same float32 (a confident multi-label head: sigmoid(17) and
 * sigmoid(19) are both 1.0) tie as they do there. Sigmoid per label, or softmax (max-subtracted, so
 * large logits cannot overflow).
 */
export function labelScores(logits: ArrayLike<number>, activation: Activation | "raw"): number[] {
  const f = Math.fround;
  const x = Array.from(logits, f);
  if (activation === "raw") return x;
  if (activation === "sigmoid") return x.map((v) => f(1 / f(1 + f(Math.exp(f(-v))))));
  const max = Math.max(...x);
  const exps = x.map((v) => f(Math.exp(f(v - max))));
  const sum = exps.reduce((a, b) => f(a + b), 0);
  return exps.map((e) => f(e / sum));
}

/** The arg-max label (the first on a tie) and its score: the pipeline's default answer. */
export function topLabel(
  logits: ArrayLike<number>,
  labels: readonly string[],
  activation: Activation | "raw",
): ModelAnswer {
  const scores = labelScores(logits, activation);
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return { score: scores[best], label: labels[best] };
}

/** Labels by score, highest first (ties in label order, as the pipeline's stable sort), the first k: its `top_k`. */
export function rankedLabels(
  logits: ArrayLike<number>,
  labels: readonly string[],
  activation: Activation | "raw",
  k: number | "all",
): ModelAnswer[] {
  const ranked = labelScores(logits, activation)
    .map((score, i) => ({ label: labels[i], score }))
    .sort((a, b) => b.score - a.score);
  return k === "all" ? ranked : ranked.slice(0, k);
}

/** A model's answer; `raw` (TEI's raw_scores): the logits as scores, no activation (the ranking is the same). */
export function answer(
  logits: ArrayLike<number>,
  labels: readonly string[],
  activation: Activation | "raw",
  topK: TopK,
) {
  return topK.kind === "top" ? topLabel(logits, labels, activation) : rankedLabels(logits, labels, activation, topK.k);
}
