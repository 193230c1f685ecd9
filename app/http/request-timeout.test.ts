import { describe, expect, test } from "bun:test";
import { ApiError } from "../errors.ts";
import { requestTimeout } from "./request-timeout.ts";

describe("requestTimeout (x-request-timeout-ms)", () => {
  test("without the header the server's deadline applies", () => {
    expect(requestTimeout(null, 30_000)).toBe(30_000);
  });

  test("a client may ask for less, never for more", () => {
    expect(requestTimeout("250", 30_000)).toBe(250);
    expect(requestTimeout(" 250 ", 30_000)).toBe(250);
    expect(requestTimeout("600000", 30_000)).toBe(30_000);
  });

  test("anything but a positive integer of milliseconds is invalid_header", () => {
    for (const bad of ["", "0", "-1", "1.5", "1e3", "0x10", "soon", "9".repeat(30)]) {
      let err: unknown;
      try {
        requestTimeout(bad, 30_000);
      } catch (e) {
        err = e;
      }
      expect([bad, err instanceof ApiError && err.code]).toEqual([bad, "invalid_header"]);
    }
  });
});
