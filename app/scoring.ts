export interface ModelAnswer {
  score: number;
  label: string;
}

/**
 * What the text-classification pipeline answers: the arg-max label and its softmax probability.
 * Computed in float64 from the float32 logits, max-subtracted so large logits cannot overflow.
 */
export function topLabel(logits: ArrayLike<number>, labels: readonly string[]): ModelAnswer {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - logits[best]);
  return { score: 1 / sum, label: labels[best] };
}
