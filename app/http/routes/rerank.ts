import { Elysia } from "elysia";
import { INFERENCE_ERRORS, jsonBody } from "../body.ts";
import { noteRun } from "../context.ts";
import type { AppDeps } from "../deps.ts";
import { RerankAnswers, rerankBody, responses } from "../model.ts";
import { readyService } from "../ready-service.ts";
import { requestTimeout, TIMEOUT_HEADER } from "../request-timeout.ts";

/** POST /rerank: TEI's, through a served cross-encoder. */
export const rerankRoutes = (deps: AppDeps) =>
  new Elysia({ name: "routes/rerank" }).post(
    "/rerank",
    async ({ body, request }) => {
      const classifier = readyService(deps.service);
      const timeoutMs = requestTimeout(request.headers.get(TIMEOUT_HEADER), deps.config.requestTimeoutMs);
      const ran = await classifier.rerank(body, { signal: request.signal, timeoutMs });
      noteRun(request, ran);
      return ran.answers;
    },
    {
      parse: jsonBody(deps),
      body: rerankBody(deps.config.maxTextsPerRequest),
      detail: {
        tags: ["classify"],
        summary: "Rank texts by relevance to a query with a cross-encoder, as TEI's /rerank answers",
        responses: responses(RerankAnswers, "the texts' indices and scores, highest first", [...INFERENCE_ERRORS]),
      },
    },
  );
