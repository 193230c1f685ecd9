/** Every error a client can see: one code list, one code→status table, one JSON envelope. */
export type ErrorCode =
  | "invalid_json"
  | "invalid_input"
  | "payload_too_large"
  | "unsupported_media_type"
  | "not_found"
  | "not_ready"
  | "overloaded"
  | "inference_unavailable"
  | "inference_failed"
  | "internal";

export const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_input: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  not_ready: 503,
  overloaded: 503,
  inference_unavailable: 503,
  inference_failed: 500,
  internal: 500,
};

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string };
}

export const envelope = (code: ErrorCode, message: string): ErrorEnvelope => ({ error: { code, message } });
