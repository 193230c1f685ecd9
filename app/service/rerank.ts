/**
 * Reranking as TEI's /rerank answers it: each (query, text) pair through a cross-encoder with a
 * single-logit head, scored sigmoid(logit) (or the logit with raw_scores), ranked highest first.
 */
import type { Ran, RerankAnswer, RerankRequest, RunOptions } from "./api.ts";
import { chooseModel, type ModelTask } from "./choose-model.ts";
import type { ZeroShotRunner } from "./zero-shot.ts";

/** Reranking needs a cross-encoder: a single-logit head. */
const RERANK: ModelTask = {
  can: (m) => m.record.labels.length === 1,
  ask: 'name the reranking model with "model"',
  noneCan: "no served model has a single-logit head",
  cannot: (m) =>
    `model ${m.key} cannot rerank: its head has ${m.record.labels.length} labels, a cross-encoder's has one logit`,
};

/** Every text's score for the query, highest first (the first on a tie), the first top_n. */
export async function rerank(
  service: ZeroShotRunner,
  req: RerankRequest,
  opts: RunOptions,
): Promise<Ran<RerankAnswer[]>> {
  const model = chooseModel(service.models, req.model, RERANK);
  const pairs = req.texts.map((text) => ({ text: req.query, text_pair: text }));
  const direction = req.truncation_direction?.toLowerCase() === "left" ? "left" : "right";
  const truncation = { strategy: "longest_first", direction } as const;
  const { perModel, timings, rows } = await service.run(pairs, [model], {
    ...opts,
    truncation,
    refuseTooLong: req.truncate === false,
  });
  const f = Math.fround;
  const score = (logit: number) => (req.raw_scores ? f(logit) : f(1 / f(1 + f(Math.exp(f(-logit))))));
  const ranked = perModel[0]
    .map((row, index) => ({ index, score: score(row.logits[0]) }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, req.top_n ?? req.texts.length);
  const answers = ranked.map((r) => (req.return_text ? { ...r, text: req.texts[r.index] } : r));
  return { answers, timings, rows };
}
