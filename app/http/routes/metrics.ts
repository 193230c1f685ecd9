import { Elysia } from "elysia";
import { ApiError } from "../../errors.ts";
import type { HttpMetrics } from "../deps.ts";

const TEXT = { description: "metrics", content: { "text/plain": { schema: { type: "string" as const } } } };

/** GET /metrics: the Prometheus exposition; 404 when the app runs without metrics. */
export const metricsRoutes = (metrics: HttpMetrics | undefined) =>
  new Elysia({ name: "routes/metrics" }).get(
    "/metrics",
    async ({ set }) => {
      if (!metrics) throw new ApiError("not_found", "metrics are off");
      set.headers["content-type"] = metrics.registry.contentType;
      return metrics.registry.metrics();
    },
    {
      detail: {
        tags: ["operations"],
        summary: "Prometheus metrics (text exposition format)",
        responses: { 200: TEXT },
      },
    },
  );
