import { type Static, t, type TSchema } from "elysia";
import { type ErrorCode, type ErrorEnvelope as ErrorEnvelopeType, STATUS } from "../errors.ts";
import type * as api from "../service/api.ts";

/** The challenge's example request. */
const EXAMPLE_TEXT = "This is how true happiness looks like 👍😜";

/** Two texts a model reads together, as the text-classification pipeline takes them. */
const TextPair = t.Object(
  {
    text: t.String(),
    text_pair: t.String(),
  },
  {
    additionalProperties: false,
    description: "A text pair, tokenized with the model's pair template (token types as the template assigns them)",
    examples: [{ text: "A man is playing a guitar.", text_pair: "Someone makes music." }],
  },
);

/** A text or a pair, or a batch of them (answered as an array, in order). */
export const processBody = (maxTexts: number) =>
  t.Union(
    [
      t.String({ examples: [EXAMPLE_TEXT] }),
      TextPair,
      t.Array(t.Union([t.String(), TextPair]), {
        minItems: 1,
        maxItems: maxTexts,
        examples: [[EXAMPLE_TEXT, "Bitcoin to the moon 🚀"]],
      }),
    ],
    {
      error:
        `the body must be a JSON string, a {"text", "text_pair"} object of two strings, or an array of 1 to ` +
        `${maxTexts} of those`,
      description:
        `A text (any Unicode; the empty string is valid), a {"text", "text_pair"} pair, or an array of 1 to ` +
        `${maxTexts} texts and pairs`,
    },
  );

/*
 * Response schemas: the /openapi document, written with the same t.* builders. Responses are not
 * validated at run time (the hot path would pay for it): each schema is exact (no field it does not
 * name) and held equal to the service's type in app/service/api.ts by the checks below, and
 * test/openapi-conformance.e2e.test.ts validates real answers against the served document.
 */

/** An object with exactly these fields: an answer with one more fails validation against the document. */
const exact = <P extends Parameters<typeof t.Object>[0]>(properties: P) =>
  t.Object(properties, { additionalProperties: false });

/** A JSON integer. (Elysia's t.Integer also accepts a numeric string, for query strings: not what an answer holds.) */
const integer = () => t.Unsafe<number>({ type: "integer" });

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/**
 * The schema, accepted only when the type it describes is exactly the API's type `A`: a field added
 * to one and not the other fails `tsc` here ("… is not assignable to … & 'differs from its type in
 * app/service/api.ts'").
 */
const schemaOf =
  <A>() =>
  <S extends TSchema>(
    schema: S & (Equals<Static<S>, A> extends true ? unknown : "differs from its type in app/service/api.ts"),
  ) =>
    schema;

const ModelAnswer = exact({
  score: t.Number({
    description: "the label's probability: softmax over the labels, or sigmoid per label for multi-label heads",
  }),
  label: t.String(),
});
/** With ?top_k: a model's labels, highest score first. */
const RankedLabels = t.Array(exact({ label: t.String(), score: t.Number() }), {
  description: "with top_k: the model's labels, highest score first",
});
const Answer = t.Record(t.String({ description: "model key" }), t.Union([ModelAnswer, RankedLabels]), {
  description: "Every model's top label and score (or, with top_k, its ranked labels), keyed by model",
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
export const ProcessAnswer = schemaOf<api.ProcessAnswer>()(
  t.Union([Answer, t.Array(Answer)], {
    description: "One answer for a text; an array of answers, in order, for an array",
  }),
);

/** POST /zero-shot's body: the arguments of transformers' ZeroShotClassificationPipeline. */
export const zeroShotBody = (maxTexts: number) =>
  schemaOf<api.ZeroShotRequest>()(
    t.Object(
      {
        sequences: t.Union([t.String(), t.Array(t.String(), { minItems: 1, maxItems: maxTexts })], {
          description: `A text, or an array of 1 to ${maxTexts} texts (answered as an array, in order)`,
        }),
        candidate_labels: t.Union([t.String(), t.Array(t.String())], {
          description: "The labels to choose from: a list, or one string of comma-separated labels",
        }),
        hypothesis_template: t.Optional(
          t.String({ description: 'Each label goes where "{}" stands; default "This example is {}."' }),
        ),
        multi_label: t.Optional(
          t.Boolean({ description: "Score each label on its own (entailment vs contradiction), not across labels" }),
        ),
        model: t.Optional(
          t.String({ description: "The NLI model's key; optional when exactly one served model can do zero-shot" }),
        ),
      },
      {
        additionalProperties: false,
        error:
          'the body must be {"sequences": text or texts, "candidate_labels": labels or "a,b", and optionally ' +
          '"hypothesis_template", "multi_label", "model"}',
        examples: [{ sequences: "Bitcoin to the moon 🚀", candidate_labels: ["finance", "sports", "politics"] }],
      },
    ),
  );

const ZeroShotAnswer = exact({
  sequence: t.String(),
  labels: t.Array(t.String(), { description: "Highest score first" }),
  scores: t.Array(t.Number()),
});
export const ZeroShotAnswers = schemaOf<api.ZeroShotAnswer | api.ZeroShotAnswer[]>()(
  t.Union([ZeroShotAnswer, t.Array(ZeroShotAnswer)], {
    description: "One answer for a sequence; an array of answers, in order, for an array",
  }),
);

/** POST /rerank's body: TEI's. */
export const rerankBody = (maxTexts: number) =>
  schemaOf<api.RerankRequest>()(
    t.Object(
      {
        query: t.String(),
        texts: t.Array(t.String(), { minItems: 1, maxItems: maxTexts }),
        raw_scores: t.Optional(t.Boolean({ description: "the logit as the score, not its sigmoid" })),
        return_text: t.Optional(t.Boolean({ description: "each answer carries its text" })),
        truncate: t.Optional(
          t.Boolean({
            description:
              "false: a (query, text) pair longer than the model takes is refused, 413 text_too_long; true or absent: it is cut longest_first",
          }),
        ),
        truncation_direction: t.Optional(
          t.Union([t.Literal("left"), t.Literal("right"), t.Literal("Left"), t.Literal("Right")], {
            description:
              "which end of each text gives way when a pair is cut: Right (default) or Left, either case as TEI",
          }),
        ),
        model: t.Optional(
          t.String({ description: "the cross-encoder's key; optional when one served model has one logit" }),
        ),
        top_n: t.Optional(t.Integer({ minimum: 1, description: "answer only the N best" })),
      },
      {
        additionalProperties: false,
        error: `the body must be TEI's rerank request: {"query": text, "texts": [1 to ${maxTexts} texts], ...}`,
        examples: [{ query: "What is Deep Learning?", texts: ["Deep Learning is not...", "Deep learning is..."] }],
      },
    ),
  );

export const RerankAnswers = schemaOf<api.RerankAnswer[]>()(
  t.Array(exact({ index: integer(), score: t.Number(), text: t.Optional(t.String()) }), {
    description: "Highest score first",
  }),
);

const FamilyTokens = exact({
  family: t.String(),
  models: t.Array(t.String()),
  maxLength: integer(),
  length: integer(),
  ids: t.Array(integer()),
  tokenTypeIds: t.Array(integer(), {
    description: "token_type_ids: 0 for one text; for a pair, as the family's template assigns them",
  }),
  tokens: t.Array(t.String()),
});
export const TokenizeAnswer = schemaOf<api.TokenizeAnswer>()(
  t.Union([t.Array(FamilyTokens), t.Array(t.Array(FamilyTokens))]),
);

const Provider = t.Union([t.Literal("cpu"), t.Literal("cuda"), t.Literal("tensorrt")]);

const WorkerHealth = exact({
  name: t.String(),
  state: t.Union([t.Literal("starting"), t.Literal("up"), t.Literal("down"), t.Literal("stopped")]),
  restarts: integer(),
  provider: Provider,
});

const WeightProof = t.Union([
  exact({
    kind: t.Literal("byte-identical"),
    tensors: integer(),
    identical: integer(),
    allIdentical: t.Boolean(),
    dtype: t.Array(t.String()),
  }),
  exact({ kind: t.Literal("not applicable: served as given") }),
]);

const ModelDescription = schemaOf<api.ModelDescription>()(
  exact({
    key: t.String(),
    source: exact({
      hubId: t.Optional(t.String()),
      revision: t.Optional(t.String()),
      commit: t.Optional(t.String()),
      local: t.Optional(t.String()),
    }),
    architecture: t.String(),
    activation: t.Union([t.Literal("softmax"), t.Literal("sigmoid")]),
    inputs: t.Array(t.String()),
    labels: t.Array(t.String()),
    publishedLabels: t.Array(t.String()),
    family: t.String(),
    maxLength: integer(),
    defaultFanOut: t.Boolean({
      description:
        "Answers a /process that names no models; false: only when ?models= names it, and /zero-shot, /rerank",
    }),
    provider: Provider,
    workers: t.Array(WorkerHealth),
    loadMs: integer(),
    engine: exact({
      converterVersion: t.String(),
      convertedAt: t.String(),
      onnx: exact({
        model: t.String(),
        data: t.Union([t.String(), t.Null()]),
        opset: integer(),
        modelSha256: t.String(),
        inputs: t.Array(t.String()),
        inputType: t.Union([t.Literal("int64"), t.Literal("int32")]),
        outputs: t.Array(t.String()),
        packed: t.Optional(exact({ model: t.String(), modelSha256: t.String(), inputs: t.Array(t.String()) })),
      }),
    }),
    weightProof: WeightProof,
    parameters: exact({ total: integer(), nonZero: integer(), sparsity: t.Number() }),
    bytes: exact({ weightsInMemory: integer(), onDisk: integer() }),
    inference: exact({
      batches: integer(),
      rows: integer(),
      lastBatch: t.Union([exact({ rows: integer(), ms: t.Number(), msPerText: t.Number() }), t.Null()]),
      meanMsPerBatch: t.Union([t.Number(), t.Null()]),
      meanMsPerText: t.Union([t.Number(), t.Null()]),
    }),
  }),
);
export const ModelsAnswer = t.Array(ModelDescription);

export const Liveness = schemaOf<api.Liveness>()(exact({ status: t.Literal("live") }));

export const Readiness = schemaOf<api.Readiness>()(
  exact({
    status: t.Union([t.Literal("ready"), t.Literal("loading"), t.Literal("degraded"), t.Literal("draining")]),
    pendingTexts: integer(),
    models: t.Array(
      exact({
        key: t.String(),
        provider: Provider,
        providerNotes: t.Array(t.String()),
        family: t.String(),
        queued: integer(),
        running: integer(),
        workers: t.Array(WorkerHealth),
      }),
    ),
  }),
);

const ErrorEnvelope = schemaOf<ErrorEnvelopeType>()(
  exact({
    error: exact({
      code: t.Union((Object.keys(STATUS) as ErrorCode[]).map((c) => t.Literal(c))),
      message: t.String(),
    }),
  }),
);

/** An OpenAPI response object (typed loosely: the t.* schemas are JSON Schema already). */
type OpenApiResponse = { description: string };
/** An OpenAPI response whose body is JSON of `schema`. */
export const jsonResponse = (schema: unknown, description: string) =>
  ({ description, content: { "application/json": { schema } } }) as OpenApiResponse;

/** OpenAPI `responses` for a route: its 200 and the error codes it can answer, grouped by status. */
export function responses(ok: unknown, okDescription: string, codes: ErrorCode[]): Record<string, OpenApiResponse> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(STATUS[c], [...(byStatus.get(STATUS[c]) ?? []), c]);
  return {
    200: jsonResponse(ok, okDescription),
    ...Object.fromEntries([...byStatus].map(([status, cs]) => [status, jsonResponse(ErrorEnvelope, cs.join(", "))])),
  };
}
