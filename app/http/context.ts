import { Elysia } from "elysia";
import type { ErrorCode } from "../errors.ts";
import type { RequestTimings, TextInput } from "../service/api.ts";
import type { AppDeps } from "./deps.ts";
import { routeLabel } from "./routes.ts";

/** What is known of a request while it runs: for its timing headers, metrics and log line. */
interface RequestNotes {
  arrivedAt: number;
  texts?: TextInput[];
  timings?: RequestTimings;
  /** Rows it ran through the models (inputs × models), counted per route. */
  rows?: number;
  /** The error it was answered with, if any: its log line's level depends on it. */
  error?: ErrorCode;
}

// Keyed by the Request itself, which every hook and handler of one request sees: nothing outlives it.
const notes = new WeakMap<Request, RequestNotes>();

/** When the request arrived (performance.now()), for its total time. */
const arrivedAt = (request: Request) => notes.get(request)?.arrivedAt ?? performance.now();

/** The texts a request carries, for its log line (errors included). */
export function noteTexts(request: Request, texts: TextInput[]) {
  notes.set(request, { arrivedAt: arrivedAt(request), texts });
}

/**
 * Where the request's time went and the rows it ran, as the service recorded them: read once, for
 * the headers, the metrics and the log line.
 */
export function noteRun(request: Request, { timings, rows }: { timings: RequestTimings; rows: number }) {
  const n = notes.get(request);
  notes.set(request, { arrivedAt: arrivedAt(request), texts: n?.texts, timings, rows });
}

/** The error a request is answered with (app/http/error-handler.ts), for its log line. */
export function noteError(request: Request, error: ErrorCode) {
  const n = notes.get(request);
  notes.set(request, { ...n, arrivedAt: n?.arrivedAt ?? performance.now(), error });
}

/** The 503s that are states the service announces (loading, draining, shedding), not faults of its own. */
const ANNOUNCED: readonly ErrorCode[] = ["not_ready", "shutting_down", "overloaded"];

/**
 * A request line's level: 5xx are errors, except the 503s the service announces (warn) and
 * readiness saying it is not ready (info); everything else info.
 */
function requestLogLevel(status: number, path: string, error?: ErrorCode): "info" | "warn" | "error" {
  if (status === 503 && path === "/health/ready") return "info";
  if (status === 503 && error && ANNOUNCED.includes(error)) return "warn";
  return status >= 500 ? "error" : "info";
}

/** A client's request id is echoed when it looks like one; otherwise one is made. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;
const requestId = (header: string | null) => (header && REQUEST_ID.test(header) ? header : crypto.randomUUID());

const round = (v: number) => Math.round(v * 100) / 100;
const ms = (v: number) => v.toFixed(2);

/** Where the time went, so a load test can split latency without server logs (TEI's headers). */
function timingHeaders(headers: Record<string, unknown>, timings: RequestTimings, totalMs: number) {
  headers["x-total-time"] = ms(totalMs);
  headers["x-tokenization-time"] = ms(timings.tokenizationMs);
  headers["x-queue-time"] = ms(timings.queueMs);
  headers["x-inference-time"] = ms(timings.inferenceMs);
}

/**
 * Request id, arrival time, and once the answer is written its metrics and its log line: every
 * request, errors and unknown paths included, hence the global scope.
 */
export function requestContext({
  logger,
  metrics,
  config,
  stopping,
}: Pick<AppDeps, "logger" | "metrics" | "config" | "stopping">) {
  const { logging } = config;
  // Draining: each answer asks the client to close, so keep-alive connections end politely. Decided
  // when the answer is made too, so requests accepted before the drain and answered during it ask as well.
  const askToClose = ({ set }: { set: { headers: Record<string, string | number> } }) => {
    if (stopping?.aborted) set.headers.connection = "close";
  };
  return new Elysia({ name: "request-context" })
    .onRequest(({ request, set }) => {
      notes.set(request, { arrivedAt: performance.now() });
      set.headers["x-request-id"] = requestId(request.headers.get("x-request-id"));
      askToClose({ set });
    })
    .onAfterHandle({ as: "global" }, ({ request, set }) => {
      askToClose({ set });
      const n = notes.get(request);
      if (!n?.timings) return;
      timingHeaders(set.headers, n.timings, performance.now() - n.arrivedAt);
      metrics?.phases(n.timings);
    })
    .onError({ as: "global" }, askToClose)
    .onAfterResponse({ as: "global" }, ({ request, set, path }) => {
      const n = notes.get(request);
      const status = typeof set.status === "number" ? set.status : 200;
      const totalMs = n ? performance.now() - n.arrivedAt : 0;
      metrics?.request(routeLabel(path), status, totalMs, n?.rows ?? 0);
      // One line per request: every error, and a sample of the rest. Texts only when asked for.
      if (!logger || (status < 400 && Math.random() >= logging.sample)) return;
      const fields = {
        requestId: set.headers["x-request-id"],
        method: request.method,
        path: path.slice(0, 200),
        status,
        totalMs: round(totalMs),
        ...(n?.timings && {
          tokenizationMs: round(n.timings.tokenizationMs),
          queueMs: round(n.timings.queueMs),
          inferenceMs: round(n.timings.inferenceMs),
        }),
        ...(n?.texts && { texts: n.texts.length }),
        ...(n?.rows !== undefined && { rows: n.rows }),
        ...(n?.texts && logging.texts && { text: n.texts }),
      };
      logger[requestLogLevel(status, path, n?.error)](fields, "request");
    });
}
