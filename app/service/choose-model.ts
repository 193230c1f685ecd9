import { ApiError } from "../errors.ts";
import type { ServedModel } from "./served-model.ts";

/** A task some served models can do (/zero-shot: an entailment label; /rerank: one logit), and how to say so. */
export interface ModelTask {
  can(m: ServedModel): boolean;
  /** Asks for a `model` when the request names none and there is not exactly one that can. */
  ask: string;
  /** Why none can, when none of the served models can. */
  noneCan: string;
  /** Why the named model cannot. */
  cannot(m: ServedModel): string;
}

/** The model a request names, or the one served model that can do the task; else why not (422 invalid_input). */
export function chooseModel(models: readonly ServedModel[], key: string | undefined, task: ModelTask): ServedModel {
  const able = models.filter((m) => task.can(m));
  if (key === undefined) {
    if (able.length === 1) return able[0];
    const why = able.length === 0 ? task.noneCan : `several can: ${able.map((m) => m.key).join(", ")}`;
    throw new ApiError("invalid_input", `${task.ask}: ${why}`);
  }
  const model = models.find((m) => m.key === key);
  if (!model)
    throw new ApiError(
      "invalid_input",
      `unknown model "${key.slice(0, 64)}": the models served are ${models.map((m) => m.key).join(", ")}`,
    );
  if (!task.can(model)) throw new ApiError("invalid_input", task.cannot(model));
  return model;
}
