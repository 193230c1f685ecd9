import { ApiError } from "../errors.ts";
import type { HttpConfig } from "./deps.ts";

/** JSON, plain text, and curl's default form type (a bare `curl -d '"text"'`); the body must be JSON either way. */
const JSON_TYPES = /^(application\/json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i;

/**
 * Reads a JSON body with the size limit enforced while reading: a client cannot make the server
 * buffer more than `limit` bytes, nor hold it longer than `timeoutMs` (slow clients get 408).
 * Non-UTF-8 bytes and malformed JSON are 400s.
 */
export async function readJsonBody(request: Request, limit: number, timeoutMs: number): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type && !JSON_TYPES.test(type))
    throw new ApiError("unsupported_media_type", `Content-Type ${type} is not accepted: send application/json`);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw new ApiError("payload_too_large", `the body is ${declared} bytes; the limit is ${limit}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ApiError("request_timeout", `the body was not received within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), expired]);
        if (done) break;
        size += value.byteLength;
        if (size > limit) throw new ApiError("payload_too_large", `the body exceeds the limit of ${limit} bytes`);
        chunks.push(value);
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      if (e instanceof ApiError) throw e;
      throw new ApiError("client_closed", "the connection closed while the body was being read");
    } finally {
      clearTimeout(timer);
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
}

/**
 * A route's `parse` option: readJsonBody always answers (a value or an ApiError), so the "json"
 * after it never runs; it is there to tell the OpenAPI generator the body is application/json.
 */
export const jsonBody = ({ maxBodyBytes, bodyTimeoutMs }: Pick<HttpConfig, "maxBodyBytes" | "bodyTimeoutMs">) => [
  ({ request }: { request: Request }) => readJsonBody(request, maxBodyBytes, bodyTimeoutMs),
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
