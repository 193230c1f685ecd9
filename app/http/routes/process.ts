import { Elysia } from "elysia";
import { BODY_ERRORS, jsonBody } from "../body.ts";
import { arrivedAt, noteWork } from "../context.ts";
import type { AppDeps } from "../deps.ts";
import { processBody, ProcessAnswer, responses } from "../model.ts";
import { readyService } from "../ready-service.ts";
import { requestTimeout, TIMEOUT_HEADER } from "../request-timeout.ts";

const ms = (v: number) => v.toFixed(2);

/** POST /process: a text (or texts) in, every model's label and score out, with where the time went. */
export const processRoutes = ({ config, service, metrics }: Pick<AppDeps, "config" | "service" | "metrics">) =>
  new Elysia({ name: "routes/process" }).post(
    "/process",
    async ({ body, request, set }) => {
      const started = arrivedAt(request);
      const classifier = readyService(service);
      const timings = { tokenizationMs: 0, queueMs: 0, inferenceMs: 0 };
      const texts = typeof body === "string" ? [body] : body;
      noteWork(request, texts, timings);
      const timeoutMs = requestTimeout(request.headers.get(TIMEOUT_HEADER), config.requestTimeoutMs);
      const answers = await classifier.classify(texts, { signal: request.signal, timeoutMs, timings });
      metrics?.phases(timings);
      // Where the time went, so a load test can split latency without server logs (TEI's headers).
      set.headers["x-total-time"] = ms(performance.now() - started);
      set.headers["x-tokenization-time"] = ms(timings.tokenizationMs);
      set.headers["x-queue-time"] = ms(timings.queueMs);
      set.headers["x-inference-time"] = ms(timings.inferenceMs);
      return typeof body === "string" ? answers[0] : answers;
    },
    {
      parse: jsonBody(config),
      body: processBody(config.maxTextsPerRequest),
      detail: {
        tags: ["classify"],
        summary: "Classify a text (or an array of texts) with every model",
        responses: responses(ProcessAnswer, "every model's label and score", [
          ...BODY_ERRORS,
          "invalid_header",
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
