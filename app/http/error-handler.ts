import { Elysia } from "elysia";
import { ApiError, envelope, RETRY_AFTER, STATUS, toApiError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { noteError } from "./context.ts";
import { ROUTES } from "./routes.ts";

type ResponseSet = { status?: number | string; headers: Record<string, string | number> };

/** Sets the code's status (and Retry-After where it has one) and returns its JSON envelope. */
function answer(request: Request, set: ResponseSet, code: ErrorCode, message: string, retryAfterS?: number) {
  noteError(request, code);
  set.status = STATUS[code];
  const retry = retryAfterS ?? RETRY_AFTER[code];
  if (retry !== undefined) set.headers["retry-after"] = String(retry);
  return envelope(code, message);
}

/**
 * Every error becomes the JSON envelope: ApiErrors through toApiError (the one mapping), Elysia's
 * own errors (schema, parse, no route) here, anything else a logged 500 without its details.
 * Global: unknown paths and every route group's errors come through it.
 */
export function errorHandler(logger?: Logger) {
  return new Elysia({ name: "error-handler" })
    .error({ ApiError })
    .onError({ as: "global" }, ({ code, error, set, request, path }) => {
      const api = toApiError(error);
      if (api) return answer(request, set, api.code, api.message, api.retryAfterS);
      if (code === "VALIDATION") {
        const message = (error as Error & { customError?: string }).customError ?? "the body has the wrong shape";
        return answer(request, set, "invalid_input", message);
      }
      if (code === "PARSE") return answer(request, set, "invalid_json", "the body is not valid JSON");
      if (code === "NOT_FOUND") {
        const allowed = ROUTES.get(path);
        if (allowed && request.method !== allowed) {
          set.headers.allow = allowed;
          return answer(request, set, "method_not_allowed", `${path} answers ${allowed} only`);
        }
        return answer(request, set, "not_found", "no such route");
      }
      logger?.error({ code, error: error instanceof Error ? error.message : String(error) }, "unhandled error");
      return answer(request, set, "internal", "internal error");
    });
}
