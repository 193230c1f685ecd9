import { Elysia } from "elysia";
import { describeModel } from "../../service/describe.ts";
import type { ServiceSource } from "../deps.ts";
import { ModelsAnswer, responses } from "../model.ts";
import { readyService } from "../ready-service.ts";

/** GET /models: what is served, and how it has run so far. */
export const modelsRoutes = (service: ServiceSource) =>
  new Elysia({ name: "routes/models" }).get(
    "/models",
    () => readyService(service).observe().models.map(describeModel),
    {
      detail: {
        tags: ["debug"],
        summary: "What is served: sources, labels, providers, proof, sizes, inference times",
        responses: responses(ModelsAnswer, "one entry per model", ["not_ready"]),
      },
    },
  );
