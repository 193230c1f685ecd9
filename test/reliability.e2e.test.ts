import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { convertModels } from "../convert/pipeline.ts";
import type { ServedModel } from "../app/service/classifier.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { waitFor } from "../testkit/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

const engines = tempDir("reliability-engines");
let server: TestServer;
let cardiff: ServedModel;

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  // A small queue so shedding is reached with a handful of texts; a slow first restart so the
  // window in which readiness is 503 is wide enough to observe.
  server = await startTestServer(
    engines,
    { MAX_QUEUED_TEXTS: "4", MAX_TEXTS_PER_REQUEST: "4" },
    { faultHooks: true, restartPolicy: { initialMs: 1500, maxMs: 5000, stableMs: 60_000 } },
  );
  cardiff = server.service.models.find((m) => m.key === "cardiffnlp")!;
});
afterAll(() => server?.stop());

/** Makes cardiffnlp's worker hold its next batch until release(); resolves once it holds one. */
function holdNextBatch(model: ServedModel) {
  const worker = model.workers[0];
  worker.injectFault("hold");
  return new Promise<void>((resolve) => worker.on((e) => e.type === "holding" && resolve()));
}
const release = (model: ServedModel) => model.workers[0].release();
const json = (texts: string[] | string) => JSON.stringify(texts);

describe("bounded queue: shedding", () => {
  test("past MAX_QUEUED_TEXTS a request gets 503 overloaded with Retry-After at once; every accepted request is answered", async () => {
    const holding = holdNextBatch(cardiff);
    const first = postProcess(server.url, json("held in the worker"));
    await holding;
    const queued = postProcess(server.url, json(["one", "two", "three"])); // 1 + 3 = the limit of 4
    await waitFor(() => cardiff.batcher.queued === 3, "three rows queued behind the held batch");
    const shedBefore = server.service.counters.shed;

    const shed = await postProcess(server.url, json("one too many"));
    expect(shed.status).toBe(503);
    expect(shed.headers.get("retry-after")).toBe("1");
    expect((await shed.json()).error.code).toBe("overloaded");
    expect(server.service.counters.shed).toBe(shedBefore + 1);
    expect(sample(await scrape(server.url), "classifier_shed_total")).toBe(shedBefore + 1);
    expect(cardiff.batcher.queued).toBe(3); // nothing of the shed request entered the queue

    const queuedSince = performance.now();
    await waitFor(() => performance.now() - queuedSince > 20, "the queued rows to wait a little");
    const releasedAfter = performance.now() - queuedSince;
    release(cardiff);
    const [a, b] = await Promise.all([first, queued]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // The queued request's x-queue-time covers at least the wait the test saw.
    expect(Number(b.headers.get("x-queue-time"))).toBeGreaterThanOrEqual(releasedAfter);
    expect(Object.keys(await a.json())).toHaveLength(5);
    expect(await b.json()).toHaveLength(3);
    expect(server.service.pendingTexts).toBe(0);
  });
});

describe("bounded queue: /tokenize counts", () => {
  test("/tokenize is shed when MAX_QUEUED_TEXTS texts are in the service, and texts it is tokenizing count against /process", async () => {
    // /process's texts fill the service: /tokenize is refused.
    const holding = holdNextBatch(cardiff);
    const first = postProcess(server.url, json("held in the worker"));
    await holding;
    const queued = postProcess(server.url, json(["one", "two", "three"])); // 1 + 3 = the limit of 4
    await waitFor(() => cardiff.batcher.queued === 3, "three rows queued behind the held batch");
    const tokenize = (body: string) => fetch(`${server.url}/tokenize`, { method: "POST", body });
    const refused = await tokenize(json("x"));
    expect([refused.status, (await refused.json()).error.code]).toEqual([503, "overloaded"]);
    release(cardiff);
    expect([(await first).status, (await queued).status]).toEqual([200, 200]);
    await waitFor(() => server.service.pendingTexts === 0, "the service to empty");

    // /tokenize's texts fill it: /process is refused while they are tokenized (about 0.9 MB without a space).
    const long = "漢".repeat(75_000);
    const tokenizing = tokenize(json([long, long, long, long]));
    await waitFor(() => server.service.pendingTexts === 4, "four texts being tokenized");
    const shed = await postProcess(server.url, json("x"));
    expect([shed.status, (await shed.json()).error.code]).toEqual([503, "overloaded"]);
    expect((await tokenizing).status).toBe(200);
    expect(server.service.pendingTexts).toBe(0);
  });
});

describe("deadlines and client aborts", () => {
  test("a request still queued at its deadline (x-request-timeout-ms) gets 504 deadline_exceeded and its rows are not run", async () => {
    const holding = holdNextBatch(cardiff);
    const first = postProcess(server.url, json("held in the worker"));
    await holding;
    const tokensBefore = cardiff.batcher.stats.realTokens; // counted when a batch is dispatched
    const cancelledBefore = cardiff.batcher.stats.cancelled;
    const cancelledRowsBefore = sample(await scrape(server.url), "classifier_cancelled_rows_total");

    const late = await postProcess(server.url, json("waits too long"), {
      "content-type": "application/json",
      "x-request-timeout-ms": "150",
    });
    expect(late.status).toBe(504);
    expect((await late.json()).error.code).toBe("deadline_exceeded");
    expect(cardiff.batcher.stats.cancelled).toBe(cancelledBefore + 1);
    expect(cardiff.batcher.queued).toBe(0);
    const metrics = await scrape(server.url);
    expect(sample(metrics, "classifier_cancelled_rows_total")).toBe(cancelledRowsBefore + 1);
    expect(sample(metrics, "classifier_deadline_exceeded_total")).toBe(server.service.counters.deadlineExceeded);
    expect(sample(metrics, "classifier_deadline_exceeded_total")).toBeGreaterThan(0);

    release(cardiff);
    expect((await first).status).toBe(200);
    await waitFor(() => cardiff.batcher.running === 0, "the held batch to finish");
    expect(cardiff.batcher.stats.realTokens).toBe(tokensBefore); // only the held batch (counted before) ran on cardiffnlp
  });

  test("a client that disconnects while queued has its rows removed from the queue, unrun", async () => {
    const holding = holdNextBatch(cardiff);
    const first = postProcess(server.url, json("held in the worker"));
    await holding;
    const tokensBefore = cardiff.batcher.stats.realTokens; // counted when a batch is dispatched
    const closedBefore = server.service.counters.clientClosed;
    const metricsBefore = await scrape(server.url);

    const client = new AbortController();
    const gone = fetch(`${server.url}/process`, {
      method: "POST",
      body: json("the client leaves"),
      headers: { "content-type": "application/json" },
      signal: client.signal,
    }).catch((e) => e.name);
    await waitFor(() => cardiff.batcher.queued === 1, "the row queued behind the held batch");
    client.abort();
    expect(await gone).toBe("AbortError");
    await waitFor(() => cardiff.batcher.queued === 0, "the row to leave the queue");
    expect(server.service.counters.clientClosed).toBe(closedBefore + 1);
    const metrics = await scrape(server.url);
    expect(sample(metrics, "classifier_client_closed_total")).toBe(
      sample(metricsBefore, "classifier_client_closed_total") + 1,
    );
    expect(sample(metrics, "classifier_cancelled_rows_total")).toBe(
      sample(metricsBefore, "classifier_cancelled_rows_total") + 1,
    );

    release(cardiff);
    expect((await first).status).toBe(200);
    await waitFor(() => cardiff.batcher.running === 0, "the held batch to finish");
    expect(cardiff.batcher.stats.realTokens).toBe(tokensBefore);
  });

  test("a deadline that passes while all of a request's rows run is answered normally, 200", async () => {
    const holding = holdNextBatch(cardiff);
    const deadlinesBefore = server.service.counters.deadlineExceeded;
    const started = performance.now();
    // Its own row is the one the worker holds: running, not queued, when its 150 ms pass.
    const running = postProcess(server.url, json("runs past its deadline"), {
      "content-type": "application/json",
      "x-request-timeout-ms": "150",
    });
    await holding;
    await waitFor(() => performance.now() - started > 300, "the deadline to pass");
    release(cardiff);
    const res = await running;
    expect(res.status).toBe(200);
    expect(Object.keys(await res.json())).toHaveLength(5);
    expect(Number(res.headers.get("x-total-time"))).toBeGreaterThan(150);
    expect(server.service.counters.deadlineExceeded).toBe(deadlinesBefore);
  });

  test("a malformed x-request-timeout-ms is 400 invalid_header", async () => {
    for (const bad of ["soon", "-5", "0", "1e3", "12.5"]) {
      const res = await postProcess(server.url, json("hi"), {
        "content-type": "application/json",
        "x-request-timeout-ms": bad,
      });
      expect([bad, res.status, (await res.json()).error.code]).toEqual([bad, 400, "invalid_header"]);
    }
  });
});

describe("worker faults", () => {
  test("an error inside one model's run fails only that batch, 500 inference_failed; the worker is not restarted", async () => {
    const svalabs = server.service.models.find((m) => m.key === "svalabs")!;
    svalabs.workers[0].injectFault("throw");
    const failed = await postProcess(server.url, json("this batch fails"));
    expect(failed.status).toBe(500);
    expect((await failed.json()).error.code).toBe("inference_failed");
    const next = await postProcess(server.url, json("the next one is fine"));
    expect(next.status).toBe(200);
    expect([svalabs.workers[0].state, svalabs.workers[0].restarts]).toEqual(["up", 0]);
  });

  test("a worker killed mid-batch: its requests get 503 inference_unavailable, readiness is 503 until it is restarted, then all is well", async () => {
    const before = await (await postProcess(server.url, json("same text before and after"))).json();
    const worker = cardiff.workers[0];
    const holding = holdNextBatch(cardiff);
    const held = postProcess(server.url, json(["in the batch", "that dies"]));
    await holding;
    const queued = postProcess(server.url, json("queued behind it"));
    await waitFor(() => cardiff.batcher.queued === 1, "a row queued behind the held batch");
    // The worker exits while holding the batch (the hold is released into an exit).
    worker.injectFault("exit");
    const exiting = postProcess(server.url, json("sent to the dying worker")); // queued until the held batch ends
    release(cardiff);
    const answers = await Promise.all([held, queued, exiting]);
    const statuses = answers.map((r) => r.status);
    // The held batch finishes normally (it was released); the queued rows go to the worker that then exits.
    expect(statuses[0]).toBe(200);
    expect(statuses.slice(1)).toEqual([503, 503]);
    for (const r of answers.slice(1)) expect((await r.json()).error.code).toBe("inference_unavailable");

    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(503);
    const body = await ready.json();
    expect(body.status).toBe("degraded");
    expect(body.models.find((m: { key: string }) => m.key === "cardiffnlp").workers[0].state).toMatch(/down|starting/);
    const during = await postProcess(server.url, json("while it restarts"));
    expect([during.status, (await during.json()).error.code]).toEqual([503, "inference_unavailable"]);

    await waitFor(() => worker.up, "the worker to be restarted");
    expect(worker.restarts).toBe(1);
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    expect(sample(await scrape(server.url), "classifier_worker_restarts_total", { worker: "cardiffnlp#0" })).toBe(1);
    const after = await postProcess(server.url, json("same text before and after"));
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual(before);
  });
});
