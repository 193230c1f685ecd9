import { afterEach, describe, expect, test } from "bun:test";
import type { EchoInit } from "../../testkit/echo-worker.ts";
import { WorkerCallFailed, WorkerUnavailable } from "./errors.ts";
import { SupervisedWorker, type WorkerState } from "./supervised-worker.ts";

type Echo = SupervisedWorker<EchoInit, { op: "double"; n: number } | { op: "uncaught" }, { start: number }, number>;
const started: Echo[] = [];

function echo(opts: { healthyStarts?: number; initialMs?: number; maxMs?: number; faultHooks?: boolean } = {}) {
  const starts = new SharedArrayBuffer(4);
  const w: Echo = new SupervisedWorker({
    name: "echo",
    entry: new URL("../../testkit/echo-worker.ts", import.meta.url),
    init: { starts, healthyStarts: opts.healthyStarts ?? 1000 },
    policy: { initialMs: opts.initialMs ?? 10, maxMs: opts.maxMs ?? 10_000, stableMs: 60_000 },
    faultHooks: opts.faultHooks ?? true,
  });
  started.push(w);
  const states: { state: WorkerState; at: number; restartInMs?: number }[] = [];
  w.on((e) => e.type === "state" && states.push({ state: e.state, at: performance.now(), restartInMs: e.restartInMs }));
  const next = (state: WorkerState) =>
    new Promise<void>((resolve) => w.on((e) => e.type === "state" && e.state === state && resolve()));
  return { w, states, next, starts: () => new Int32Array(starts)[0] };
}

/** How a call ended, in the worker layer's terms (the service maps these to API codes). */
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "answered",
    (e) => (e instanceof WorkerUnavailable ? "unavailable" : e instanceof WorkerCallFailed ? "failed" : String(e)),
  );

afterEach(() =>
  started.splice(0).forEach((w) => {
    w.stop();
  }),
);

describe("SupervisedWorker", () => {
  test("calls are answered by id, concurrently", async () => {
    const { w } = echo();
    await w.firstReady;
    expect(await Promise.all([1, 2, 3].map((n) => w.call({ op: "double", n })))).toEqual([2, 4, 6]);
  });

  test("a worker that exits holding calls rejects them all at once as unavailable, then is restarted and answers again", async () => {
    const { w, next, starts } = echo();
    await w.firstReady;
    w.injectFault("exit");
    const held = [w.call({ op: "double", n: 1 }), w.call({ op: "double", n: 2 })];
    expect(await Promise.all(held.map(codeOf))).toEqual(["unavailable", "unavailable"]);
    // Those it held say so (what it ran may have killed it); one refused while it is down does not.
    expect(await Promise.all(held.map((h) => h.catch((e: WorkerUnavailable) => e.held)))).toEqual([true, true]);
    expect(w.state === "down" || w.state === "starting").toBe(true);
    const refused = w.call({ op: "double", n: 3 });
    expect(await codeOf(refused)).toBe("unavailable"); // refused at once while down
    expect(await refused.catch((e: WorkerUnavailable) => e.held)).toBe(false);
    await next("up");
    expect(await w.call({ op: "double", n: 4 })).toBe(8);
    expect([w.restarts, starts()]).toEqual([1, 2]);
  });

  test("an uncaught error inside the worker is a crash like an exit: its calls fail and it is restarted", async () => {
    const { w, next } = echo();
    await w.firstReady;
    expect(await codeOf(w.call({ op: "uncaught" }))).toBe("unavailable");
    await next("up");
    expect(await w.call({ op: "double", n: 5 })).toBe(10);
  });

  test("an error thrown by a call fails only that call; the worker stays up and is not restarted", async () => {
    const { w } = echo();
    await w.firstReady;
    w.injectFault("throw");
    expect(await codeOf(w.call({ op: "double", n: 1 }))).toBe("failed");
    expect(await w.call({ op: "double", n: 2 })).toBe(4);
    expect([w.state, w.restarts]).toEqual(["up", 0]);
  });

  test("a crash loop backs off: each restart waits twice as long as the one before, up to the cap", async () => {
    // Up once, then every reload fails: pauses of 400, 800, then the 1000 ms cap twice.
    const { w, states, next } = echo({ healthyStarts: 1, initialMs: 400, maxMs: 1000 });
    await w.firstReady;
    w.injectFault("exit");
    await codeOf(w.call({ op: "double", n: 1 }));
    for (let i = 0; i < 4; i++) await next("down");
    const downs = states.filter((s) => s.state === "down");
    const restarts = states.filter((s) => s.state === "starting").map((s) => s.at); // the first start was before we listened
    // The pause each crash was given doubles and stops at the cap (a pause that did not double, or
    // one that doubled past the cap to 1600, fails here)...
    expect(downs.slice(0, 4).map((d) => d.restartInMs)).toEqual([400, 800, 1000, 1000]);
    // ...and each restart really waited for it (a timer on a loaded box may be late, never early).
    for (const [i, at] of restarts.slice(0, 4).entries())
      expect(at - downs[i].at).toBeGreaterThanOrEqual((downs[i].restartInMs ?? Number.NaN) - 1);
    expect(w.state === "down" || w.state === "starting").toBe(true);
  }, 15_000);

  test("a worker that fails its first load is not restarted: firstReady rejects", async () => {
    const { w, starts } = echo({ healthyStarts: 0 });
    await expect(w.firstReady).rejects.toThrow("echo: exited");
    expect([w.state, starts()]).toEqual(["stopped", 1]);
  });

  test("fault injection is refused unless the worker was started with fault hooks (production never is)", async () => {
    const { w } = echo({ faultHooks: false });
    await w.firstReady;
    expect(() => w.injectFault("exit")).toThrow("fault hooks are off");
  });
});
