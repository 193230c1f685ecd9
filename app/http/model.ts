import { t } from "elysia";
import { STATUS, type ErrorCode } from "../errors.ts";

/** The challenge's example request. */
export const EXAMPLE_TEXT = "This is how true happiness looks like 👍😜";

/** A text, or a batch of texts (answered as an array, in order). */
export const processBody = (maxTexts: number) =>
  t.Union(
    [
      t.String({ examples: [EXAMPLE_TEXT] }),
      t.Array(t.String(), { minItems: 1, maxItems: maxTexts, examples: [[EXAMPLE_TEXT, "Bitcoin to the moon 🚀"]] }),
    ],
    {
      error: `the body must be a JSON string, or an array of 1 to ${maxTexts} strings`,
      description: `A text (any Unicode; the empty string is valid), or an array of 1 to ${maxTexts} texts`,
    },
  );

/*
 * Response schemas: documentation for /openapi, written with the same t.* builders. Responses are
 * not validated at run time (the hot path would pay for it); the e2e tests check the real shapes.
 */
const ModelAnswer = t.Object({
  score: t.Number({
    description: "the label's probability: softmax over the labels, or sigmoid per label for multi-label heads",
  }),
  label: t.String(),
});
/** With ?top_k: a model's labels, highest score first. */
const RankedLabels = t.Array(t.Object({ label: t.String(), score: t.Number() }), {
  description: "with top_k: the model's labels, highest score first",
});
export const Answer = t.Record(t.String({ description: "model key" }), t.Union([ModelAnswer, RankedLabels]), {
  description: "Every model's top label and score, keyed by model",
  examples: [
    {
      cardiffnlp: { score: 0.93, label: "POSITIVE" },
      ivanlau: { score: 0.98, label: "English" },
      svalabs: { score: 0.99, label: "HAM" },
      EIStakovskii: { score: 0.99, label: "LABEL_0" },
      jy46604790: { score: 0.88, label: "LABEL_1" },
    },
  ],
});
export const ProcessAnswer = t.Union([Answer, t.Array(Answer)], {
  description: "One answer for a text; an array of answers, in order, for an array",
});

const FamilyTokens = t.Object({
  family: t.String(),
  models: t.Array(t.String()),
  maxLength: t.Integer(),
  length: t.Integer(),
  ids: t.Array(t.Integer()),
  tokens: t.Array(t.String()),
});
export const TokenizeAnswer = t.Union([t.Array(FamilyTokens), t.Array(t.Array(FamilyTokens))]);

export const ModelsAnswer = t.Array(
  t.Object(
    {
      key: t.String(),
      source: t.Object({
        hubId: t.Optional(t.String()),
        revision: t.Optional(t.String()),
        commit: t.Optional(t.String()),
        local: t.Optional(t.String()),
      }),
      labels: t.Array(t.String()),
      family: t.String(),
      maxLength: t.Integer(),
      provider: t.String(),
      parameters: t.Object({ total: t.Integer(), nonZero: t.Integer(), sparsity: t.Number() }),
      bytes: t.Object({ weightsInMemory: t.Integer(), onDisk: t.Integer() }),
    },
    { additionalProperties: true },
  ),
);

export const Health = t.Object({ status: t.String() }, { additionalProperties: true });

export const ErrorEnvelope = t.Object({
  error: t.Object({
    code: t.Union((Object.keys(STATUS) as ErrorCode[]).map((c) => t.Literal(c))),
    message: t.String(),
  }),
});

/** An OpenAPI response object (typed loosely: the t.* schemas are JSON Schema already). */
type OpenApiResponse = { description: string };
const json = (schema: unknown, description: string) =>
  ({ description, content: { "application/json": { schema } } }) as OpenApiResponse;

/** OpenAPI `responses` for a route: its 200 and the error codes it can answer, grouped by status. */
export function responses(ok: unknown, okDescription: string, codes: ErrorCode[]): Record<string, OpenApiResponse> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(STATUS[c], [...(byStatus.get(STATUS[c]) ?? []), c]);
  return {
    200: json(ok, okDescription),
    ...Object.fromEntries([...byStatus].map(([status, cs]) => [status, json(ErrorEnvelope, cs.join(", "))])),
  };
}
