import { Elysia } from "elysia";
import { BODY_ERRORS, jsonBody } from "../body.ts";
import type { AppDeps } from "../deps.ts";
import { processBody, responses, TokenizeAnswer } from "../model.ts";
import { readyService } from "../ready-service.ts";

/** POST /tokenize: what each tokenizer family makes of the texts /process would take. */
export const tokenizeRoutes = (deps: AppDeps) =>
  new Elysia({ name: "routes/tokenize" }).post(
    "/tokenize",
    async ({ body, request }) => {
      const classifier = readyService(deps.service);
      if (!Array.isArray(body)) return classifier.tokenization(body, request.signal);
      return Promise.all(body.map((t) => classifier.tokenization(t, request.signal)));
    },
    {
      parse: jsonBody(deps),
      body: processBody(deps.config.maxTextsPerRequest),
      detail: {
        tags: ["debug"],
        summary: "The ids and tokens each tokenizer family makes of a text, as the models see them",
        responses: responses(TokenizeAnswer, "per family: models, ids, tokens", [
          ...BODY_ERRORS,
          "not_ready",
          "overloaded",
          "shutting_down",
        ]),
      },
    },
  );
