/**
 * Reranking as TEI's /rerank answers it: each (query, text) pair through a cross-encoder with a
 * single-logit head, scored sigmoid(logit) (or the logit with raw_scores), ranked highest first.
 */
import { ApiError } from "../errors.ts";
import type { RerankAnswer, RerankRequest, RunOptions } from "./api.ts";
import type { ServedModel } from "./served-model.ts";
import type { ZeroShotRunner } from "./zero-shot.ts";

/** The model a request names, or the one served model with a single-logit head; else why not (422). */
function chooseReranker(models: readonly ServedModel[], key: string | undefined): ServedModel {
  const able = models.filter((m) => m.record.labels.length === 1);
  if (key === undefined) {
    if (able.length === 1) return able[0];
    const why =
      able.length === 0
        ? "no served model has a single-logit head"
        : `several can: ${able.map((m) => m.key).join(", ")}`;
    throw new ApiError("invalid_input", `name the reranking model with "model": ${why}`);
  }
  const model = models.find((m) => m.key === key);
  if (!model)
    throw new ApiError(
      "invalid_input",
      `unknown model "${key.slice(0, 64)}": the models served are ${models.map((m) => m.key).join(", ")}`,
    );
  if (model.record.labels.length !== 1)
    throw new ApiError(
      "invalid_input",
      `model ${key} cannot rerank: its head has ${model.record.labels.length} labels, a cross-encoder's has one logit`,
    );
  return model;
}

/** Every text's score for the query, highest first (the first on a tie), the first top_n. */
export async function rerank(service: ZeroShotRunner, req: RerankRequest, opts: RunOptions): Promise<RerankAnswer[]> {
  const model = chooseReranker(service.models, req.model);
  if ((req.truncation_direction ?? "right") !== "right")
    throw new ApiError("invalid_input", 'truncation_direction "left" is not supported yet: texts are cut on the right');
  const pairs = req.texts.map((text) => ({ text: req.query, text_pair: text }));
  const { perModel } = await service.run(pairs, [model], opts);
  const f = Math.fround;
  const score = (logit: number) => (req.raw_scores ? f(logit) : f(1 / f(1 + f(Math.exp(f(-logit))))));
  const ranked = perModel[0]
    .map((row, index) => ({ index, score: score(row.logits[0]) }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, req.top_n ?? req.texts.length);
  return ranked.map((r) => (req.return_text ? { ...r, text: req.texts[r.index] } : r));
}
