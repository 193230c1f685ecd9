import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import { ApiError, envelope, RETRY_AFTER, STATUS, toApiError, type ErrorCode } from "./errors.ts";
import { readJsonBody } from "./http/body.ts";
import { Health, ModelsAnswer, processBody, ProcessAnswer, responses, TokenizeAnswer } from "./http/model.ts";
import type { ServiceMetrics } from "./metrics.ts";
import type { Logger } from "./log.ts";
import type { RequestTimings } from "./service/api.ts";
import type { ClassifierService } from "./service/classifier.ts";

export interface AppDeps {
  config: Pick<Config, "maxBodyBytes" | "maxTextsPerRequest" | "requestTimeoutMs" | "bodyTimeoutMs"> & Partial<Pick<Config, "logging">>;
  /** The service once its models are loaded; null while starting. */
  service: () => ClassifierService | null;
  logger?: Logger;
  metrics?: ServiceMetrics;
}

/** What is known of a request while it runs: for its timing headers, metrics and log line. */
interface RequestNotes {
  arrivedAt: number;
  texts?: string[];
  timings?: RequestTimings;
}

/** The methods each route answers; another method on a known path is 405, not 404. */
const ROUTES: Record<string, string> = { "/process": "POST", "/tokenize": "POST", "/models": "GET", "/metrics": "GET", "/health/live": "GET", "/health/ready": "GET", "/openapi": "GET", "/docs": "GET" };

/** A client's request id is echoed when it looks like one; otherwise one is made. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;
export const requestId = (header: string | null) => (header && REQUEST_ID.test(header) ? header : crypto.randomUUID());

const ms = (v: number) => v.toFixed(2);
const round = (v: number) => Math.round(v * 100) / 100;

/** A client may ask for a shorter deadline than the server's, never a longer one. */
export const TIMEOUT_HEADER = "x-request-timeout-ms";

export function requestTimeout(header: string | null, serverMs: number): number {
  if (header === null) return serverMs;
  const v = Number(header);
  if (!/^\d+$/.test(header.trim()) || !Number.isSafeInteger(v) || v < 1) throw new ApiError("invalid_header", `${TIMEOUT_HEADER} must be a positive integer of milliseconds, got "${header.slice(0, 40)}"`);
  return Math.min(v, serverMs);
}

/** Bun.serve settings for the app, shared by index.ts and the tests so both listen alike. */
export function listenOptions(config: Pick<Config, "host" | "port" | "idleTimeoutS">) {
  return {
    hostname: config.host,
    port: config.port,
    idleTimeout: config.idleTimeoutS,
    // Bun's own limit would answer an oversized body with a bare 413 before our handler runs; the
    // handler enforces MAX_BODY_BYTES itself (Content-Length first, then while reading) with a JSON error.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  };
}

/** The HTTP app, without listening: what tests and index.ts use. */
export function createApp(deps: AppDeps) {
  const logger = deps.logger;
  const logConfig = deps.config.logging ?? { level: "info", sample: 1, texts: false };
  const notes = new WeakMap<Request, RequestNotes>();
  const fail = (set: { status?: number | string; headers: Record<string, string | number> }, code: ErrorCode, message: string) => {
    set.status = STATUS[code];
    const retry = RETRY_AFTER[code];
    if (retry !== undefined) set.headers["retry-after"] = String(retry);
    return envelope(code, message);
  };
  const textsBody = processBody(deps.config.maxTextsPerRequest);
  // Our reader always answers (a value or an ApiError), so the "json" after it never runs: it is
  // there to tell the OpenAPI generator the body is application/json.
  const jsonBody = [({ request }: { request: Request }) => readJsonBody(request, deps.config.maxBodyBytes, deps.config.bodyTimeoutMs), "json" as const];
  const bodyErrors = ["invalid_json", "invalid_input", "payload_too_large", "unsupported_media_type", "request_timeout"] as const;
  const readyService = () => {
    const s = deps.service();
    if (!s) throw new ApiError("not_ready", "the models are still loading");
    return s;
  };

  return new Elysia({ name: "classifier-service" })
    .use(
      openapi({
        // The JSON document at /openapi (what client generators fetch), a Scalar page at /docs.
        path: "/docs",
        specPath: "/openapi",
        exclude: { paths: ["/docs", "/openapi"] },
        documentation: {
          info: { title: "Text classifiers service", version: "0.1.0", description: "Five Hugging Face text classifiers behind one endpoint: a text in, each model's top label and score out." },
          tags: [{ name: "classify" }, { name: "debug" }, { name: "operations" }],
        },
      }),
    )
    .error({ ApiError })
    // Every answer, errors included, carries the request id (the client's, or a new one).
    .onRequest(({ request, set }) => {
      notes.set(request, { arrivedAt: performance.now() });
      set.headers["x-request-id"] = requestId(request.headers.get("x-request-id"));
    })
    .onAfterResponse(({ request, set, path }) => {
      const n = notes.get(request);
      const status = typeof set.status === "number" ? set.status : 200;
      const totalMs = n ? performance.now() - n.arrivedAt : 0;
      deps.metrics?.request(path, status, totalMs);
      // One line per request: every error, and a sample of the rest. Texts only when asked for.
      if (!logger || (status < 400 && Math.random() >= logConfig.sample)) return;
      const fields = {
        requestId: set.headers["x-request-id"],
        method: request.method,
        path: path.slice(0, 200),
        status,
        totalMs: round(totalMs),
        ...(n?.timings && { tokenizationMs: round(n.timings.tokenizationMs), queueMs: round(n.timings.queueMs), inferenceMs: round(n.timings.inferenceMs) }),
        ...(n?.texts && { texts: n.texts.length }),
        ...(n?.texts && logConfig.texts && { text: n.texts }),
      };
      if (status >= 500) logger.error(fields, "request");
      else logger.info(fields, "request");
    })
    .onError(({ code, error, set, request, path }) => {
      const api = toApiError(error);
      if (api) return fail(set, api.code, api.message);
      if (code === "VALIDATION") return fail(set, "invalid_input", (error as Error & { customError?: string }).customError ?? "the body has the wrong shape");
      if (code === "PARSE") return fail(set, "invalid_json", "the body is not valid JSON");
      if (code === "NOT_FOUND") {
        const allowed = ROUTES[path];
        if (allowed && request.method !== allowed) {
          set.headers.allow = allowed;
          return fail(set, "method_not_allowed", `${path} answers ${allowed} only`);
        }
        return fail(set, "not_found", "no such route");
      }
      logger?.error({ code, error: error instanceof Error ? error.message : String(error) }, "unhandled error");
      return fail(set, "internal", "internal error");
    })
    .get("/health/live", () => ({ status: "live" }), { detail: { tags: ["operations"], summary: "Liveness: 200 while the process runs", responses: responses(Health, "live", []) } })
    .get("/health/ready", ({ set }) => {
      const s = deps.service();
      const details = s?.health() ?? { pendingTexts: 0, models: [], tokenizers: [] };
      const status = !s ? "loading" : s.draining ? "draining" : s.isReady() ? "ready" : "degraded";
      if (status !== "ready") set.status = 503;
      return { status, ...details };
    }, {
      detail: {
        tags: ["operations"],
        summary: "Readiness: 200 when every model is warm and every worker up; 503 loading, degraded or draining",
        responses: { ...responses(Health, "ready", []), 503: { description: "loading, degraded or draining", content: { "application/json": { schema: Health } } } },
      },
    })
    .post(
      "/process",
      async ({ body, request, set }) => {
        const started = notes.get(request)?.arrivedAt ?? performance.now();
        const service = readyService();
        const timings = { tokenizationMs: 0, queueMs: 0, inferenceMs: 0 };
        const texts = typeof body === "string" ? [body] : body;
        notes.set(request, { arrivedAt: started, texts, timings });
        const opts = { signal: request.signal, timeoutMs: requestTimeout(request.headers.get(TIMEOUT_HEADER), deps.config.requestTimeoutMs), timings };
        const answers = await service.classify(texts, opts);
        deps.metrics?.phases(timings);
        // Where the time went, so a load test can split latency without server logs (TEI's headers).
        set.headers["x-total-time"] = ms(performance.now() - started);
        set.headers["x-tokenization-time"] = ms(timings.tokenizationMs);
        set.headers["x-queue-time"] = ms(timings.queueMs);
        set.headers["x-inference-time"] = ms(timings.inferenceMs);
        return typeof body === "string" ? answers[0] : answers;
      },
      {
        parse: jsonBody,
        body: textsBody,
        detail: {
          tags: ["classify"],
          summary: "Classify a text (or an array of texts) with every model",
          responses: responses(ProcessAnswer, "every model's label and score", [...bodyErrors, "invalid_header", "not_ready", "overloaded", "shutting_down", "inference_unavailable", "deadline_exceeded", "inference_failed"]),
        },
      },
    )
    .get("/models", () => readyService().describeModels(), {
      detail: { tags: ["debug"], summary: "What is served: sources, labels, providers, proof, sizes, inference times", responses: responses(ModelsAnswer, "one entry per model", ["not_ready"]) },
    })
    .get("/metrics", async ({ set }) => {
      if (!deps.metrics) throw new ApiError("not_found", "metrics are off");
      set.headers["content-type"] = deps.metrics.registry.contentType;
      return deps.metrics.registry.metrics();
    }, { detail: { tags: ["operations"], summary: "Prometheus metrics (text exposition format)", responses: { 200: { description: "metrics", content: { "text/plain": { schema: { type: "string" } } } } } } })
    .post(
      "/tokenize",
      ({ body }) => {
        const service = readyService();
        return typeof body === "string" ? service.tokenization(body) : body.map((t) => service.tokenization(t));
      },
      {
        parse: jsonBody,
        body: textsBody,
        detail: {
          tags: ["debug"],
          summary: "The ids and tokens each tokenizer family makes of a text, as the models see them",
          responses: responses(TokenizeAnswer, "per family: models, ids, tokens", [...bodyErrors, "not_ready"]),
        },
      },
    );
}
