import { Elysia } from "elysia";
import type { Config } from "./config.ts";
import { requestContext } from "./http/context.ts";
import { BodyBudget } from "./http/body.ts";
import type { AppDeps } from "./http/deps.ts";
import { errorHandler } from "./http/error-handler.ts";
import { docsRoutes } from "./http/routes/docs.ts";
import { healthRoutes } from "./http/routes/health.ts";
import { metricsRoutes } from "./http/routes/metrics.ts";
import { modelsRoutes } from "./http/routes/models.ts";
import { processRoutes } from "./http/routes/process.ts";
import { tokenizeRoutes } from "./http/routes/tokenize.ts";
import { rerankRoutes } from "./http/routes/rerank.ts";
import { zeroShotRoutes } from "./http/routes/zero-shot.ts";

export type { AppDeps } from "./http/deps.ts";

/** Bun.serve settings for the app (app/main.ts listens with them). */
export function listenOptions(config: Pick<Config, "host" | "port" | "idleTimeoutS">) {
  return {
    hostname: config.host,
    port: config.port,
    idleTimeout: config.idleTimeoutS,
    // Elysia turns port reuse on: a second instance would then start on a taken port and the kernel
    // would split the traffic between the two. Off, it fails with EADDRINUSE (startService says so).
    reusePort: false,
    // Bun's own limit would answer an oversized body with a bare 413 before our handler runs; the
    // handler enforces MAX_BODY_BYTES itself (Content-Length first, then while reading) with a JSON error.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  };
}

/**
 * The HTTP app, without listening: what app/main.ts and the HTTP tests use. Order matters: hooks apply to the
 * routes mounted after them, so every route, the docs included, comes after the request context.
 */
export function createApp(given: AppDeps) {
  // One budget for the bytes of every body being read, whichever route reads it.
  const deps = {
    ...given,
    bodyBudget: given.bodyBudget ?? new BodyBudget(given.config.maxBufferedBodyBytes),
  };
  return new Elysia({ name: "classifier-service" })
    .use(requestContext(deps))
    .use(errorHandler(deps.logger))
    .use(docsRoutes())
    .use(healthRoutes(deps.service))
    .use(processRoutes(deps))
    .use(modelsRoutes(deps.service))
    .use(metricsRoutes(deps.metrics))
    .use(tokenizeRoutes(deps))
    .use(zeroShotRoutes(deps))
    .use(rerankRoutes(deps));
}
