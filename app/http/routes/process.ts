import { Elysia, t } from "elysia";
import { ApiError } from "../../errors.ts";
import type { TopK } from "../../service/api.ts";
import { BODY_ERRORS, jsonBody } from "../body.ts";
import { noteTexts, noteTimings } from "../context.ts";
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

/** POST /process: a text (or texts) in, every model's label and score out, with where the time went. */
export const processRoutes = (deps: AppDeps) =>
  new Elysia({ name: "routes/process" }).post(
    "/process",
    async ({ body, query, request }) => {
      const topK = parseTopK(query.top_k);
      const classifier = readyService(deps.service);
      const texts = Array.isArray(body) ? body : [body];
      noteTexts(request, texts);
      const timeoutMs = requestTimeout(request.headers.get(TIMEOUT_HEADER), deps.config.requestTimeoutMs);
      const { answers, timings } = await classifier.classify(texts, { signal: request.signal, timeoutMs, topK });
      // The request context reads them for the timing headers, the phase metrics and the log line.
      noteTimings(request, timings);
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
      }),
      detail: {
        tags: ["classify"],
        summary: "Classify a text or a text pair (or an array of them) with every model",
        responses: responses(ProcessAnswer, "every model's label and score", [
          ...BODY_ERRORS,
          "invalid_header",
          "invalid_parameter",
          "deadline_unreachable",
          "not_ready",
          "overloaded",
          "shutting_down",
          "inference_unavailable",
          "deadline_exceeded",
          "inference_failed",
        ]),
      },
    },
  );
