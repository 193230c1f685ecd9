/** What the benchmarks read off the service's /metrics (scrapes as text: testkit/metrics.ts). */
import { sample } from "../../testkit/metrics.ts";

/** Each model's mean batch size between two scrapes. */
export function meanBatchByModel(before: string, after: string, keys: string[]): Record<string, number> {
  const delta = (name: string, model: string) => sample(after, name, { model }) - sample(before, name, { model });
  const mean = (model: string) =>
    delta("classifier_batch_size_sum", model) / Math.max(1, delta("classifier_batch_size_count", model));
  return Object.fromEntries(keys.map((k) => [k, mean(k)]));
}

/** The padding efficiency (real ÷ padded tokens) between two scrapes, mean over the models that ran batches. */
export function paddingBetween(before: string, after: string, keys: string[]): number {
  const delta = (name: string, model: string) => sample(after, name, { model }) - sample(before, name, { model });
  const ratios = keys
    .map((k) => delta("classifier_batch_real_tokens_total", k) / delta("classifier_batch_tokens_sum", k))
    .filter((r) => Number.isFinite(r));
  return ratios.length ? ratios.reduce((a, b) => a + b, 0) / ratios.length : Number.NaN;
}

/** The padding efficiency (real ÷ padded tokens) since the service started, mean over models. */
export function meanPaddingEfficiency(metrics: string, keys: string[]): number {
  const ratio = (model: string) => sample(metrics, "classifier_padding_efficiency_ratio", { model });
  return keys.reduce((n, k) => n + ratio(k), 0) / keys.length;
}
