import { TokenizationFailed } from "./tokenize/tokenizer-pool.ts";
import { WorkerCallFailed, WorkerUnavailable } from "./workers/errors.ts";

/** Every error a client can see: one code list, one code→status table, one JSON envelope. */
export type ErrorCode =
  | "invalid_json"
  | "invalid_input"
  | "invalid_header"
  | "invalid_parameter"
  | "payload_too_large"
  | "text_too_long"
  | "deadline_unreachable"
  | "unsupported_media_type"
  | "request_timeout"
  | "not_found"
  | "method_not_allowed"
  | "client_closed"
  | "not_ready"
  | "overloaded"
  | "shutting_down"
  | "deadline_exceeded"
  | "inference_unavailable"
  | "inference_failed"
  | "tokenization_failed"
  | "internal";

export const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_input: 422,
  invalid_header: 400,
  invalid_parameter: 400,
  payload_too_large: 413,
  text_too_long: 413,
  deadline_unreachable: 422,
  unsupported_media_type: 415,
  request_timeout: 408,
  not_found: 404,
  method_not_allowed: 405,
  // nginx's code for a client that went away before its answer; it is logged, never received.
  client_closed: 499,
  not_ready: 503,
  overloaded: 503,
  shutting_down: 503,
  deadline_exceeded: 504,
  inference_unavailable: 503,
  inference_failed: 500,
  // The model's tokenizer failed on this text (its process died or it threw): the model's files are at
  // fault, not the request's form; other requests go on.
  tokenization_failed: 500,
  internal: 500,
};

/** Seconds a client should wait before retrying, sent as Retry-After with these codes. */
export const RETRY_AFTER: Partial<Record<ErrorCode, number>> = {
  not_ready: 5,
  overloaded: 1,
  shutting_down: 1,
  inference_unavailable: 1,
};

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds to send as Retry-After when the code's fixed value is not the best answer (an estimate). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string };
}

export const envelope = (code: ErrorCode, message: string): ErrorEnvelope => ({ error: { code, message } });

/**
 * The one place an error becomes what a client sees: an ApiError as it is (also when it is the
 * cause of another error, as Elysia wraps errors thrown in parse hooks); an inference worker's
 * error by what happened to it. Null for anything else: a bug, answered 500 internal and logged.
 */
export function toApiError(e: unknown): ApiError | null {
  if (e instanceof ApiError) return e;
  if (e instanceof WorkerUnavailable) return new ApiError("inference_unavailable", e.message);
  if (e instanceof WorkerCallFailed) return new ApiError("inference_failed", e.message);
  if (e instanceof TokenizationFailed) return new ApiError("tokenization_failed", e.message);
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause instanceof ApiError ? cause : null;
}
