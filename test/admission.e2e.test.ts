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
    expect(alone).toBeGreaterThan(0); // measured: until a model has answered a batch nothing is refused this way
    // The only worker holds a batch: a request that were queued could not be answered until it is released.
    const worker = slow.workers[0];
    worker.injectFault("hold");
    const holding = new Promise<void>((resolve) => worker.on((e) => e.type === "holding" && resolve()));
    const held = post("short");
    await holding;
    const tokensBefore = slow.batcher.stats.realTokens; // counted when a batch is dispatched: the held one is in
    try {
      const res = await post([long, long, long, long], Math.max(1, Math.floor(alone)));
      expect([res.status, (await res.json()).error.code]).toEqual([422, "deadline_unreachable"]);
      expect(slow.batcher.queued).toBe(0);
    } finally {
      worker.release();
    }
    expect((await held).status).toBe(200);
    expect(slow.batcher.stats.realTokens).toBe(tokensBefore); // none of the refused four was dispatched
  });

  test("behind queued work past its deadline, a request is shed at once with 503 overloaded and a Retry-After from the estimate", async () => {
    const alone = slow.batcher.aloneMs(512);
    const worker = slow.workers[0];
    worker.injectFault("hold");
    const holding = new Promise<void>((resolve) => worker.on((e) => e.type === "holding" && resolve()));
    const held = post(long);
    await holding;
    // Long rows queued behind the held one, in requests of eight: at least 2.5 s of work at the measured
    // speed, so the estimate's Retry-After is more than the 1 s floor.
    const requests = Math.max(1, Math.ceil(2500 / alone / 8));
    const queued = Array.from({ length: requests }, () => post(Array.from({ length: 8 }, () => long)));
    let patient: Promise<Response> | undefined;
    try {
      await waitFor(() => slow.batcher.queued === 8 * requests, "the long rows queued");
      const budget = Math.floor(slow.batcher.expectedWaitMs(512) / 2); // half the wait it would have
      const shed = await post(long, budget);
      expect([shed.status, (await shed.json()).error.code]).toEqual([503, "overloaded"]);
      // Retry-After is the model's estimate of the work ahead (the queued rows and half of the running one), in
      // whole seconds rounded up. Row by row at the speed alone that is about (8 × requests + 0.5) × alone; the
      // estimate batches the queued rows, so it pays the fitted fixed part fewer times: a little less.
      const aheadS = slow.batcher.expectedWaitMs(0) / 1000;
      const rowByRowS = ((8 * requests + 0.5) * alone) / 1000;
      expect(aheadS).toBeGreaterThan(2);
      expect(aheadS).toBeGreaterThan(0.6 * rowByRowS);
      expect(aheadS).toBeLessThanOrEqual(rowByRowS * 1.001);
      expect(Number(shed.headers.get("retry-after"))).toBe(Math.ceil(aheadS));
      expect(slow.batcher.queued).toBe(8 * requests); // nothing of it was queued
      // A request with time enough is admitted and answered.
      patient = post("short", 120_000);
    } finally {
      worker.release(); // also when an expectation failed: the next test needs the worker
    }
    expect((await held).status).toBe(200);
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual(Array(requests).fill(200));
    expect((await patient!).status).toBe(200);
  });

  test("fair order: a short request behind a large array is answered before the array's last rows run", async () => {
    const answered: string[] = [];
    const big = post(Array.from({ length: 6 }, () => long)).then((r) => {
      answered.push("big");
      return r;
    });
    await waitFor(() => slow.batcher.running === 1, "the array's first row running");
    const small = post("short").then((r) => {
      answered.push("small");
      return r;
    });
    expect([(await small).status, (await big).status]).toEqual([200, 200]);
    expect(answered).toEqual(["small", "big"]);
  });
});
