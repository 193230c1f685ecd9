import { Elysia } from "elysia";
import type { ServiceSource } from "../deps.ts";
import { Health, responses } from "../model.ts";

const READY_503 = { description: "loading, degraded or draining", content: { "application/json": { schema: Health } } };

/** Liveness and readiness, for the orchestrator and the load balancer. */
export const healthRoutes = (service: ServiceSource) =>
  new Elysia({ name: "routes/health" })
    .get("/health/live", () => ({ status: "live" }), {
      detail: {
        tags: ["operations"],
        summary: "Liveness: 200 while the process runs",
        responses: responses(Health, "live", []),
      },
    })
    .get(
      "/health/ready",
      ({ set }) => {
        const s = service();
        const details = s?.health() ?? { pendingTexts: 0, models: [], tokenizers: [] };
        const status = !s ? "loading" : s.draining ? "draining" : s.isReady() ? "ready" : "degraded";
        if (status !== "ready") set.status = 503;
        return { status, ...details };
      },
      {
        detail: {
          tags: ["operations"],
          summary: "Readiness: 200 when every model is warm and every worker up; 503 loading, degraded or draining",
          responses: { ...responses(Health, "ready", []), 503: READY_503 },
        },
      },
    );
