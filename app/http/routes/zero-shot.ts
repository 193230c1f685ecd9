import { Elysia } from "elysia";
import { INFERENCE_ERRORS, jsonBody } from "../body.ts";
import { noteRun } from "../context.ts";
import type { AppDeps } from "../deps.ts";
import { responses, ZeroShotAnswers, zeroShotBody } from "../model.ts";
import { readyService } from "../ready-service.ts";
import { requestTimeout, TIMEOUT_HEADER } from "../request-timeout.ts";

/** POST /zero-shot: texts classified into labels chosen per request, through a served NLI model. */
export const zeroShotRoutes = (deps: AppDeps) =>
  new Elysia({ name: "routes/zero-shot" }).post(
    "/zero-shot",
    async ({ body, request }) => {
      const classifier = readyService(deps.service);
      const timeoutMs = requestTimeout(request.headers.get(TIMEOUT_HEADER), deps.config.requestTimeoutMs);
      const ran = await classifier.zeroShot(body, {
        signal: request.signal,
        timeoutMs,
        maxLabels: deps.config.maxCandidateLabels,
        maxRows: deps.config.maxQueuedTexts,
      });
      noteRun(request, ran);
      return ran.answers;
    },
    {
      parse: jsonBody(deps),
      body: zeroShotBody(deps.config.maxTextsPerRequest),
      detail: {
        tags: ["classify"],
        summary: "Zero-shot classification, as transformers' zero-shot-classification pipeline answers it",
        responses: responses(ZeroShotAnswers, "per sequence: the labels ranked, with their scores", [
          ...INFERENCE_ERRORS,
        ]),
      },
    },
  );
