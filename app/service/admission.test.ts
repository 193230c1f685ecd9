import { describe, expect, test } from "bun:test";
import { Admission, refusalByExpectedWait } from "./admission.ts";

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

/** A queue whose speed is `msPerToken` (null: not measured yet) with `aheadTokens` queued. */
const queue = (msPerToken: number | null, aheadTokens = 0) => ({
  aloneMs: (tokens: number) => (msPerToken ?? 0) * tokens,
  expectedWaitMs: (tokens: number) => (msPerToken === null ? 0 : (aheadTokens + tokens) * msPerToken),
});

describe("refusal by expected wait", () => {
  test("nothing is refused before a model's speed is measured", () => {
    expect(refusalByExpectedWait([{ queue: queue(null, 1e9), tokens: 1e9 }], 1)).toBeNull();
  });

  test("a request whose own rows need longer than its deadline is 422 deadline_unreachable, whatever is queued", () => {
    const r = refusalByExpectedWait(
      [
        { queue: queue(1), tokens: 10 },
        { queue: queue(2), tokens: 600 },
      ],
      1000,
    );
    expect([r?.code, r?.message]).toEqual(["deadline_unreachable", expect.stringContaining("about 1.2 s")]);
  });

  test("work ahead past 70% of the time left is 503 overloaded with Retry-After from the wait ahead; alone, the same request fits", () => {
    const behind = refusalByExpectedWait([{ queue: queue(1, 2500), tokens: 100 }], 3000);
    expect([behind?.code, behind?.retryAfterS]).toEqual(["overloaded", 3]);
    expect(refusalByExpectedWait([{ queue: queue(1, 1000), tokens: 100 }], 3000)).toBeNull(); // 1.1 s < 2.1 s
    expect(refusalByExpectedWait([{ queue: queue(1), tokens: 2500 }], 3000)).toBeNull(); // nothing ahead
  });
});
