import { describe, expect, test } from "bun:test";
import { Admission } from "./admission.ts";

describe("admission", () => {
  test("a request is taken whole or not at all, up to the limit", () => {
    const a = new Admission(4);
    expect(a.tryAdmit(3)).toBe(true);
    expect(a.tryAdmit(2)).toBe(false); // 3 + 2 > 4: nothing of it taken
    expect(a.pendingTexts).toBe(3);
    expect(a.tryAdmit(1)).toBe(true);
    a.release(3);
    expect(a.pendingTexts).toBe(1);
    expect(a.tryAdmit(3)).toBe(true);
  });

  test("whenIdle resolves true when the last text is released, false past its timeout, at once when idle", async () => {
    const a = new Admission(4);
    expect(await a.whenIdle(1)).toBe(true);
    a.tryAdmit(2);
    const idle = a.whenIdle(60_000);
    a.release(1);
    let settled = false;
    idle.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    a.release(1);
    expect(await idle).toBe(true);
    a.tryAdmit(1);
    expect(await a.whenIdle(5)).toBe(false);
  });
});
