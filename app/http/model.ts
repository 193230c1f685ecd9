import { t } from "elysia";

export const EXAMPLE_TEXT = "This is how true happiness looks like 👍😜";

/** A text, or a batch of texts (answered as an array, in order). */
export const processBody = (maxTexts: number) =>
  t.Union([t.String({ examples: [EXAMPLE_TEXT] }), t.Array(t.String(), { minItems: 1, maxItems: maxTexts })], {
    error: `the body must be a JSON string, or an array of 1 to ${maxTexts} strings`,
  });
