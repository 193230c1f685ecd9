/**
 * Admission by expected wait (issue 15, findings 2 and 3): work that cannot be answered within its
 * deadline is refused at once instead of queueing and ending in 504, and a large request does not
 * hold small ones behind it. One RoBERTa model slow enough (hidden 384, 6 layers) that its speed is
 * measurable on this machine.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { ServedModel } from "../app/service/classifier.ts";
import { slowEngines } from "../testkit/fixtures.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(120_000);

let server: TestServer;
let slow: ServedModel;
const long = "word ".repeat(600); // truncated to 512 tokens
const post = (body: unknown, timeoutMs?: number) =>
  postProcess(server.url, JSON.stringify(body), {
    "content-type": "application/json",
    ...(timeoutMs ? { "x-request-timeout-ms": String(timeoutMs) } : {}),
  });

beforeAll(async () => {
  server = await startTestServer(await slowEngines(), { CPU_MAX_BATCH_SIZE: "1" }, { faultHooks: true });
  slow = server.service.models[0];
  // The speed is measured from answered batches: one long text teaches it.
  expect((await post(long)).status).toBe(200);
});
afterAll(() => server?.stop());

describe("admission by expected wait", () => {
  test("a request that alone needs longer than its deadline is refused at once: 422 deadline_unreachable, nothing queued", async () => {
    const alone = slow.batcher.aloneMs(512);
    expect(alone).toBeGreaterThan(5); // measured
    const tokensBefore = slow.batcher.stats.realTokens; // counted when a batch is dispatched
    const started = performance.now();
    const res = await post([long, long, long, long], Math.max(1, Math.floor(alone)));
    expect([res.status, (await res.json()).error.code]).toEqual([422, "deadline_unreachable"]);
    expect(performance.now() - started).toBeLessThan(alone * 4); // refused, not computed
    expect(slow.batcher.stats.realTokens).toBe(tokensBefore);
  });

  test("behind queued work past its deadline, a request is shed at once with 503 overloaded and a Retry-After from the estimate", async () => {
    const worker = slow.workers[0];
    worker.injectFault("hold");
    const holding = new Promise<void>((resolve) => worker.on((e) => e.type === "holding" && resolve()));
    const held = post(long);
    await holding;
    const queued = post(Array.from({ length: 8 }, () => long)); // eight long rows queued behind the held one
    await waitFor(() => slow.batcher.queued === 8, "eight rows queued");
    const budget = Math.floor(slow.batcher.expectedWaitMs(512) / 2); // half the wait it would have
    const shed = await post(long, budget);
    expect([shed.status, (await shed.json()).error.code]).toEqual([503, "overloaded"]);
    expect(Number(shed.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(slow.batcher.queued).toBe(8); // nothing of it was queued
    // A request with time enough is admitted and answered.
    const patient = post("short", 120_000);
    worker.release();
    expect([(await held).status, (await queued).status, (await patient).status]).toEqual([200, 200, 200]);
  });

  test("fair order: a short request behind a large array is answered before the array's last rows run", async () => {
    const answered: string[] = [];
    const big = post(Array.from({ length: 6 }, () => long)).then((r) => (answered.push("big"), r));
    await waitFor(() => slow.batcher.running === 1, "the array's first row running");
    const small = post("short").then((r) => (answered.push("small"), r));
    expect([(await small).status, (await big).status]).toEqual([200, 200]);
    expect(answered).toEqual(["small", "big"]);
  });
});
