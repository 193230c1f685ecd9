/**
 * Zero-shot classification exactly as transformers' ZeroShotClassificationPipeline answers it: one
 * pair per (sequence, label) with the template filled in, cut only_first, through an NLI model; the
 * entailment logits softmaxed across labels, or with multi_label (or one label) a softmax over
 * [contradiction, entailment] per label; labels ranked by score.
 */
import { ApiError } from "../errors.ts";
import type { Ran, RequestTimings, RunOptions, ZeroShotAnswer, ZeroShotLimits, ZeroShotRequest } from "./api.ts";
import { chooseModel, type ModelTask } from "./choose-model.ts";
import type { ServedModel } from "./served-model.ts";

/** What zero-shot needs of the service: its models and a run of inputs through some of them. */
export interface ZeroShotRunner {
  readonly models: readonly ServedModel[];
  run(
    inputs: { text: string; text_pair: string }[],
    models: ServedModel[],
    opts: RunOptions,
  ): Promise<{ perModel: { logits: Float32Array }[][]; timings: RequestTimings; rows: number }>;
}

/** The label transformers takes as entailment: the first whose name starts with "entail", any case; -1 if none. */
export function entailmentId(labels: readonly string[]): number {
  return labels.findIndex((l) => l.toLowerCase().startsWith("entail"));
}

/** Labels as the pipeline parses them: a string is split on commas, each trimmed, empty ones dropped. */
export function parseLabels(raw: string | string[]): string[] {
  return typeof raw === "string"
    ? raw
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l.length > 0)
    : raw;
}

/**
 * One sequence's score per label from its rows' logits ([label][class]), in float32 as numpy computes
 * it (no max subtracted, as the pipeline does not).
 */
export function zeroShotScores(logits: ArrayLike<number>[], entailment: number, multiLabel: boolean): number[] {
  const f = Math.fround;
  const exp = (x: number) => f(Math.exp(f(x)));
  if (multiLabel || logits.length === 1) {
    const contradiction = entailment === 0 ? logits[0].length - 1 : 0;
    return logits.map((l) => {
      const [c, e] = [exp(l[contradiction]), exp(l[entailment])];
      return f(e / f(c + e));
    });
  }
  const exps = logits.map((l) => exp(l[entailment]));
  const sum = exps.reduce((a, b) => f(a + b), 0);
  return exps.map((e) => f(e / sum));
}

/** Highest first, as `reversed(scores.argsort())`: a stable ascending sort reversed, so of equal scores the later label leads. */
export function ranked(labels: string[], scores: number[]): { labels: string[]; scores: number[] } {
  const order = labels
    .map((_, i) => i)
    .sort((a, b) => scores[a] - scores[b] || a - b)
    .reverse();
  return { labels: order.map((i) => labels[i]), scores: order.map((i) => scores[i]) };
}

/** Zero-shot needs an NLI model: one with a label transformers takes as entailment. */
const ZERO_SHOT: ModelTask = {
  can: (m) => entailmentId(m.record.labels) >= 0,
  ask: 'name the NLI model to use with "model"',
  noneCan: "no served model has an entailment label",
  cannot: (m) =>
    `model ${m.key} cannot do zero-shot classification: none of its labels (${m.record.labels.join(", ")}) starts with "entail"`,
};

/** The hypotheses of the labels, or why the template or labels are refused (422). */
function hypotheses(template: string, labels: string[], maxLabels: number): string[] {
  if (labels.length === 0) throw new ApiError("invalid_input", "candidate_labels is empty: give at least one label");
  if (labels.length > maxLabels)
    throw new ApiError(
      "invalid_input",
      `${labels.length} candidate labels; the limit is ${maxLabels} (MAX_CANDIDATE_LABELS)`,
    );
  const parts = template.split("{}");
  if (parts.length !== 2 || /[{}]/.test(parts.join("")))
    throw new ApiError(
      "invalid_input",
      `hypothesis_template must hold "{}" once (where each label goes) and no other brace, got ${JSON.stringify(template.slice(0, 80))}`,
    );
  return labels.map((l) => parts[0] + l + parts[1]);
}

const DEFAULT_TEMPLATE = "This example is {}.";

/** What /zero-shot takes beyond a run's options: its limits on labels and on rows (sequences × labels). */
export type ZeroShotOptions = RunOptions & ZeroShotLimits;

/** One answer per sequence (one object for a single string), through the service's run. */
export async function zeroShot(
  service: ZeroShotRunner,
  req: ZeroShotRequest,
  opts: ZeroShotOptions,
): Promise<Ran<ZeroShotAnswer | ZeroShotAnswer[]>> {
  const model = chooseModel(service.models, req.model, ZERO_SHOT);
  const labels = parseLabels(req.candidate_labels);
  const filled = hypotheses(req.hypothesis_template ?? DEFAULT_TEMPLATE, labels, opts.maxLabels);
  const sequences = typeof req.sequences === "string" ? [req.sequences] : req.sequences;
  if (sequences.length * labels.length > opts.maxRows)
    throw new ApiError(
      "invalid_input",
      `${sequences.length} sequences × ${labels.length} labels = ${sequences.length * labels.length} pairs; the service holds at most ${opts.maxRows} (MAX_QUEUED_TEXTS)`,
    );
  const pairs = sequences.flatMap((text) => filled.map((text_pair) => ({ text, text_pair })));
  const truncation = { strategy: "only_first", direction: "right" } as const;
  const { perModel, timings, rows } = await service.run(pairs, [model], { ...opts, truncation });
  const entailment = entailmentId(model.record.labels);
  const answers = sequences.map((sequence, s) => {
    const logits = labels.map((_, l) => perModel[0][s * labels.length + l].logits);
    return { sequence, ...ranked(labels, zeroShotScores(logits, entailment, req.multi_label ?? false)) };
  });
  return { answers: typeof req.sequences === "string" ? answers[0] : answers, timings, rows };
}
