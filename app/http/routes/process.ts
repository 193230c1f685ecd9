import { Elysia, t } from "elysia";
import { ApiError } from "../../errors.ts";
import type { TopK } from "../../service/api.ts";
import type { TruncationDirection } from "../../tokenize/truncation.ts";
import { INFERENCE_ERRORS, jsonBody } from "../body.ts";
import { noteRun, noteTexts } from "../context.ts";
import type { AppDeps } from "../deps.ts";
import { processBody, ProcessAnswer, responses } from "../model.ts";
import { readyService } from "../ready-service.ts";
import { requestTimeout, TIMEOUT_HEADER } from "../request-timeout.ts";

/** `?top_k=N` or `?top_k=all` (the pipeline's top_k): each model's labels ranked; absent, the top label alone. */
function parseTopK(raw: string | undefined): TopK {
  if (raw === undefined) return { kind: "top" };
  if (raw === "all") return { kind: "ranked", k: "all" };
  const k = Number(raw);
  if (!/^\d{1,6}$/.test(raw) || k < 1)
    throw new ApiError("invalid_parameter", `top_k must be a positive integer or "all", got "${raw.slice(0, 40)}"`);
  return { kind: "ranked", k };
}

/** `?models=a,b`: only those models answer; an unknown key is refused naming the known ones. */
function parseModels(raw: string | undefined, known: string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const keys = raw.split(",").map((k) => k.trim());
  const unknown = keys.filter((k) => !known.includes(k));
  if (keys.length === 0 || unknown.length > 0)
    throw new ApiError(
      "invalid_parameter",
      `models: unknown model ${JSON.stringify(unknown[0]?.slice(0, 64) ?? "")}; the models served are ${known.join(", ")}`,
    );
  return keys;
}

/** `?raw_scores=true`: the logits as scores (TEI's name); `false` or absent, the pipeline's scores. */
function parseRawScores(raw: string | undefined): boolean {
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  throw new ApiError("invalid_parameter", `raw_scores must be true or false, got "${raw.slice(0, 40)}"`);
}

/** `?truncation_direction=left|right`: which end of a text too long for a model gives way (TEI's name); right by default. */
function parseDirection(raw: string | undefined): TruncationDirection {
  const side = raw?.toLowerCase() ?? "right"; // TEI's enum is "Left" | "Right"; either case is taken
  if (side === "right" || side === "left") return side;
  throw new ApiError("invalid_parameter", `truncation_direction must be left or right, got "${side.slice(0, 40)}"`);
}

/** POST /process: a text (or texts) in, every model's label and score out, with where the time went. */
export const processRoutes = (deps: AppDeps) =>
  new Elysia({ name: "routes/process" }).post(
    "/process",
    async ({ body, query, request }) => {
      const topK = parseTopK(query.top_k);
      const rawScores = parseRawScores(query.raw_scores);
      const truncation = { strategy: "longest_first", direction: parseDirection(query.truncation_direction) } as const;
      const classifier = readyService(deps.service);
      const models = parseModels(
        query.models,
        classifier.observe().models.map((m) => m.key),
      );
      const texts = Array.isArray(body) ? body : [body];
      noteTexts(request, texts);
      const timeoutMs = requestTimeout(request.headers.get(TIMEOUT_HEADER), deps.config.requestTimeoutMs);
      const options = { signal: request.signal, timeoutMs, topK, models, rawScores, truncation };
      const classified = await classifier.classify(texts, options);
      // The request context reads them for the timing headers, the phase and row metrics and the log line.
      noteRun(request, classified);
      const { answers } = classified;
      return Array.isArray(body) ? answers : answers[0];
    },
    {
      parse: jsonBody(deps),
      body: processBody(deps.config.maxTextsPerRequest),
      query: t.Object({
        top_k: t.Optional(
          t.String({
            description:
              "Answer each model with its N best labels ({label, score}, highest first), or all of them: the " +
              "text-classification pipeline's top_k. Without it, each model answers its top label as {score, label}.",
            examples: ["3", "all"],
          }),
        ),
        models: t.Optional(
          t.String({
            description:
              "Comma-separated model keys: only these models answer (in the service's order). An unknown key is " +
              "400 invalid_parameter naming the models served. Without it, the default fan-out answers: every " +
              "model whose manifest entry does not set defaultFanOut false (GET /models shows it).",
            examples: ["cardiffnlp,ivanlau"],
          }),
        ),
        raw_scores: t.Optional(
          t.String({
            description:
              "true: each label's score is the model's logit, no sigmoid or softmax (TEI's raw_scores); the " +
              "ranking is the same. false (default): the text-classification pipeline's scores.",
            examples: ["true"],
          }),
        ),
        truncation_direction: t.Optional(
          t.String({
            description:
              "Which end of a text (each text of a pair) too long for a model gives way: right (default: its start " +
              "is kept, as transformers' truncation=True) or left (its end is kept, truncation_side=left). TEI's name.",
            examples: ["left"],
          }),
        ),
      }),
      detail: {
        tags: ["classify"],
        summary: "Classify a text or a text pair (or an array of them) with every model",
        responses: responses(ProcessAnswer, "every model's label and score", [
          ...INFERENCE_ERRORS,
          "invalid_parameter",
        ]),
      },
    },
  );
