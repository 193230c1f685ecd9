import { Elysia } from "elysia";
import type { Liveness } from "../../service/api.ts";
import { readiness } from "../../service/describe.ts";
import type { ServiceSource } from "../deps.ts";
import { jsonResponse, Liveness as LivenessSchema, Readiness, responses } from "../model.ts";

/** Liveness and readiness, for the orchestrator and the load balancer. */
export const healthRoutes = (service: ServiceSource) =>
  new Elysia({ name: "routes/health" })
    .get("/health/live", (): Liveness => ({ status: "live" }), {
      detail: {
        tags: ["operations"],
        summary: "Liveness: 200 while the process runs",
        responses: responses(LivenessSchema, "live", []),
      },
    })
    .get(
      "/health/ready",
      ({ set }) => {
        const answer = readiness(service()?.observe() ?? null);
        if (answer.status !== "ready") set.status = 503;
        return answer;
      },
      {
        detail: {
          tags: ["operations"],
          summary: "Readiness: 200 when every model is warm and every worker up; 503 loading, degraded or draining",
          responses: {
            ...responses(Readiness, "ready", []),
            503: jsonResponse(Readiness, "loading, degraded or draining"),
          },
        },
      },
    );
