import { describe, expect, test } from "bun:test";
import { DEFAULT_RESTART_POLICY, failuresAfterCrash, restartDelay } from "./restart-policy.ts";

const p = { initialMs: 100, maxMs: 1000, stableMs: 60_000 };

describe("restart policy", () => {
  test("the pause doubles with each crash in a row, up to the maximum", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => restartDelay(n, p))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  test("a crash after a stable run starts a new series; a crash soon after a restart (or while loading) continues it", () => {
    expect(failuresAfterCrash(4, 60_000, p)).toBe(1);
    expect(failuresAfterCrash(4, 59_999, p)).toBe(5);
    expect(failuresAfterCrash(4, null, p)).toBe(5);
  });

  test("by default a lone crash restarts within a fraction of a second and a crash loop settles at 30 s", () => {
    expect(restartDelay(1, DEFAULT_RESTART_POLICY)).toBeLessThanOrEqual(250);
    expect(restartDelay(50, DEFAULT_RESTART_POLICY)).toBe(30_000);
  });
});
