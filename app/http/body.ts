import type { Config } from "../config.ts";
import { ApiError } from "../errors.ts";

/** JSON, plain text, and curl's default form type (a bare `curl -d '"text"'`); the body must be JSON either way. */
const JSON_TYPES = /^(application\/json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i;

/**
 * Bytes of request bodies being buffered at once, across all requests: a thousand connections each
 * sending MAX_BODY_BYTES cannot add a gigabyte. A body that would pass it is refused (503).
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number) {
    this.used -= bytes;
  }
}

export interface BodyLimits {
  limit: number;
  timeoutMs: number;
  budget?: BodyBudget;
  /** Aborted when the instance starts draining: a body still arriving is answered 503 shutting_down at once. */
  stopping?: AbortSignal;
}

/**
 * The most chunks (reads) a body may arrive in, chunked or with a declared length. Each costs the
 * HTTP thread a turn (a 1 MiB body in 1-byte chunks took 2 s); real clients send kilobytes per chunk.
 */
const MAX_BODY_CHUNKS = 16_384;

/** A body chunk by chunk, with the size limit and the budget enforced as it arrives. */
async function readChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  chunks: Uint8Array[],
  interrupted: Promise<never>,
  limit: number,
  take: (bytes: number) => void,
  taken: () => number,
): Promise<number> {
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), interrupted]);
      if (done) return size;
      size += value.byteLength;
      if (size > limit) throw new ApiError("payload_too_large", `the body exceeds the limit of ${limit} bytes`);
      if (chunks.length >= MAX_BODY_CHUNKS)
        throw new ApiError(
          "payload_too_large",
          `the body arrived in more than ${MAX_BODY_CHUNKS} chunks: send larger chunks`,
        );
      if (size > taken()) take(size - taken());
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

/**
 * Reads a JSON body with the size limit enforced while reading: a client cannot make the server
 * buffer more than `limit` bytes (nor all clients together more than the budget), nor hold it
 * longer than `timeoutMs` (slow clients get 408). Non-UTF-8 bytes and malformed JSON are 400s;
 * a compressed body is 415 (we do not inflate untrusted input).
 */
async function readJsonBody(request: Request, { limit, timeoutMs, budget, stopping }: BodyLimits): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type && !JSON_TYPES.test(type))
    throw new ApiError("unsupported_media_type", `Content-Type ${type} is not accepted: send application/json`);
  const encoding = request.headers.get("content-encoding");
  if (encoding && encoding.trim().toLowerCase() !== "identity")
    throw new ApiError(
      "unsupported_media_type",
      `Content-Encoding ${encoding.slice(0, 40)} is not accepted: send the JSON uncompressed`,
    );
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw new ApiError("payload_too_large", `the body is ${declared} bytes; the limit is ${limit}`);
  if (stopping?.aborted) throw new ApiError("shutting_down", "the service is shutting down: retry on another instance");
  const chunks: Uint8Array[] = [];
  let size = 0;
  let taken = 0;
  const take = (bytes: number) => {
    if (!budget) return;
    if (!budget.take(bytes))
      throw new ApiError(
        "overloaded",
        `the server is receiving ${budget.inUse} bytes of request bodies, its limit: retry later`,
      );
    taken += bytes;
  };
  try {
    if (request.body) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stopped: (() => void) | undefined;
      const interrupted = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ApiError("request_timeout", `the body was not received within ${timeoutMs} ms`)),
          timeoutMs,
        );
        stopped = () =>
          reject(new ApiError("shutting_down", "the service is shutting down: retry on another instance"));
        stopping?.addEventListener("abort", stopped, { once: true });
      });
      try {
        // Declared length or not, chunk by chunk, counted as the bytes arrive: a declared length alone
        // holds no budget (64 idle connections declaring 1 MiB each once locked every other body out),
        // and none is counted only once complete (300 uploads stalled one byte short of a declared 1 MB
        // added +392 MB under a 4 MiB budget).
        size = await readChunks(request.body.getReader(), chunks, interrupted, limit, take, () => taken);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError("client_closed", "the connection closed while the body was being read");
      } finally {
        clearTimeout(timer);
        if (stopped) stopping?.removeEventListener("abort", stopped);
      }
    }
    if (size === 0) throw new ApiError("invalid_json", "the body is empty: send a JSON string");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
    } catch {
      throw new ApiError("invalid_json", "the body is not valid UTF-8");
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(
        "invalid_json",
        `the body is not valid JSON (${e instanceof Error ? e.message : "parse error"})`,
      );
    }
  } finally {
    budget?.give(taken);
  }
}

/** What the metrics count of bodies that end unread: refused for the budget (shed), or the client left mid-body. */
export interface BodyOutcomes {
  bodyEnded(outcome: "shed" | "client_closed"): void;
}

/**
 * A route's `parse` option: readJsonBody always answers (a value or an ApiError), so the "json"
 * after it never runs; it is there to tell the OpenAPI generator the body is application/json.
 */
export const jsonBody = ({
  config,
  bodyBudget,
  stopping,
  metrics,
}: {
  config: Pick<Config, "maxBodyBytes" | "bodyTimeoutMs">;
  bodyBudget?: BodyBudget;
  stopping?: AbortSignal;
  metrics?: BodyOutcomes;
}) => [
  async ({ request }: { request: Request }) => {
    const limits = { limit: config.maxBodyBytes, timeoutMs: config.bodyTimeoutMs, budget: bodyBudget, stopping };
    try {
      return await readJsonBody(request, limits);
    } catch (e) {
      if (e instanceof ApiError && e.code === "overloaded") metrics?.bodyEnded("shed");
      if (e instanceof ApiError && e.code === "client_closed") metrics?.bodyEnded("client_closed");
      throw e;
    }
  },
  "json" as const,
];

/** What a body read by jsonBody and checked by a route's schema can answer: for the OpenAPI document. */
export const BODY_ERRORS = [
  "invalid_json",
  "invalid_input",
  "payload_too_large",
  "unsupported_media_type",
  "request_timeout",
] as const;

/**
 * What a route that runs texts through the models can answer (/process, /zero-shot, /rerank): a body's
 * errors, the deadline header's, and those of a run (ClassifierService.run): for the OpenAPI document.
 */
export const INFERENCE_ERRORS = [
  ...BODY_ERRORS,
  "invalid_header",
  "text_too_long",
  "deadline_unreachable",
  "not_ready",
  "overloaded",
  "shutting_down",
  "inference_unavailable",
  "deadline_exceeded",
  "inference_failed",
  "tokenization_failed",
] as const;
