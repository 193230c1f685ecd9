import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import { ApiError, envelope, STATUS, type ErrorCode } from "./errors.ts";
import { readJsonBody } from "./http/body.ts";
import { processBody } from "./http/model.ts";
import type { ClassifierService } from "./service.ts";

export interface AppDeps {
  config: Pick<Config, "maxBodyBytes" | "maxTextsPerRequest">;
  /** The service once its models are loaded; null while starting. */
  service: () => ClassifierService | null;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** The HTTP app, without listening: what tests and index.ts use. */
export function createApp(deps: AppDeps) {
  const log = deps.log ?? (() => {});
  const fail = (set: { status?: number | string }, code: ErrorCode, message: string) => {
    set.status = STATUS[code];
    return envelope(code, message);
  };
  const readyService = () => {
    const s = deps.service();
    if (!s?.isReady()) throw new ApiError("not_ready", "the models are still loading");
    return s;
  };

  return new Elysia({ name: "classifier-service" })
    .error({ ApiError })
    .onError(({ code, error, set }) => {
      const cause = (error as { cause?: unknown }).cause;
      const api = error instanceof ApiError ? error : cause instanceof ApiError ? cause : null;
      if (api) return fail(set, api.code, api.message);
      if (code === "VALIDATION") return fail(set, "invalid_input", (error as Error & { customError?: string }).customError ?? "the body has the wrong shape");
      if (code === "PARSE") return fail(set, "invalid_json", "the body is not valid JSON");
      if (code === "NOT_FOUND") return fail(set, "not_found", "no such route");
      log("unhandled error", { code, error: error instanceof Error ? error.message : String(error) });
      return fail(set, "internal", "internal error");
    })
    .get("/health/live", () => ({ status: "live" }))
    .get("/health/ready", ({ set }) => {
      const s = deps.service();
      const models = s?.models.map((m) => ({ key: m.key, provider: m.provider, family: m.family.id, workers: m.workers.length })) ?? [];
      if (!s?.isReady()) {
        set.status = 503;
        return { status: "not_ready", models };
      }
      return { status: "ready", models };
    })
    .post(
      "/process",
      async ({ body }) => {
        const service = readyService();
        if (typeof body === "string") return (await service.classify([body]))[0];
        return service.classify(body);
      },
      {
        parse: ({ request }) => readJsonBody(request, deps.config.maxBodyBytes),
        body: processBody(deps.config.maxTextsPerRequest),
      },
    );
}
