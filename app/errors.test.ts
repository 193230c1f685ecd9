import { describe, expect, test } from "bun:test";
import { ApiError, STATUS, toApiError } from "./errors.ts";
import { WorkerCallFailed, WorkerUnavailable } from "./workers/errors.ts";

const seen = (e: unknown) => {
  const api = toApiError(e);
  return api && [api.code, STATUS[api.code], api.message];
};

describe("toApiError: the one place an error becomes what a client sees", () => {
  test("an ApiError as it is, also as the cause of another error (Elysia wraps parse-hook errors)", () => {
    const overloaded = new ApiError("overloaded", "retry later");
    expect(toApiError(overloaded)).toBe(overloaded);
    expect(toApiError(new Error("wrapped", { cause: overloaded }))).toBe(overloaded);
  });

  test("an inference worker that is down or died holding the call: 503 inference_unavailable", () => {
    expect(seen(new WorkerUnavailable("m#0", "m#0 is restarting"))).toEqual([
      "inference_unavailable",
      503,
      "m#0 is restarting",
    ]);
  });

  test("a run that failed inside a live worker: 500 inference_failed", () => {
    expect(seen(new WorkerCallFailed("m#0", "m#0: bad shape"))).toEqual(["inference_failed", 500, "m#0: bad shape"]);
  });

  test("anything else is not ours to describe: null (the handler answers 500 internal and logs it)", () => {
    for (const e of [new Error("bug"), new TypeError("x is undefined"), "a string", null, undefined])
      expect(toApiError(e)).toBeNull();
  });
});
