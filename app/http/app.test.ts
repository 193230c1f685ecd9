/**
 * The HTTP layer over a fake ClassifierApi, through app.handle: no port, no workers, milliseconds.
 * What the real service does is the e2e tests' business; these prove statuses, codes, headers and
 * what the routes hand to the service and the metrics.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../../testkit/wait.ts";
import { loadConfig } from "../config.ts";
import { ApiError, type ErrorCode } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { createApp } from "../server.ts";
import type { ModelRecord } from "../../lib/store/index.ts";
import type {
  ClassifierApi,
  ClassifyOptions,
  TextInput,
  ModelObservation,
  RequestTimings,
  ServiceObservation,
} from "../service/api.ts";
import type { WorkerState } from "../workers/supervised-worker.ts";
import { BodyBudget } from "./body.ts";
import type { HttpMetrics } from "./deps.ts";
import { ROUTES } from "./routes.ts";
import { scalarBundle } from "./routes/docs.ts";

const CONFIG = loadConfig({ MAX_BODY_BYTES: "1024", MAX_TEXTS_PER_REQUEST: "4", BODY_TIMEOUT_MS: "50" });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JSON_TYPE = { "content-type": "application/json" };
const bytes = (s: string) => new TextEncoder().encode(s);

/** The service as observe() reports it: no models unless given, nothing pending. */
function observation(over: Partial<ServiceObservation> = {}): ServiceObservation {
  const counters = { shed: 0, deadlineExceeded: 0, clientClosed: 0 };
  const tokenizers = {
    processes: 2,
    queuedJobs: 0,
    runningJobs: 0,
    droppedBeforeStart: 0,
    crashes: 0,
    recycled: 0,
    rssBytes: 1,
  };
  return { draining: false, pendingTexts: 3, counters, models: [], tokenizers, ...over };
}

/** A model whose only worker is in `state` (readiness reads the workers, not the record). */
const modelWith = (state: WorkerState): ModelObservation => ({
  key: "m",
  record: {} as ModelRecord,
  family: "f",
  maxLength: 8,
  provider: "cpu",
  providerNotes: [],
  loadMs: 1,
  bytesOnDisk: 1,
  defaultFanOut: true,
  queued: 0,
  running: 0,
  batches: { realTokens: 0, paddedTokens: 0, answeredBatches: 0, answeredRows: 0, runMs: 0, last: null, cancelled: 0 },
  workers: [{ name: "m#0", state, restarts: 0, provider: "cpu" }],
});

/** A service that answers each text with one model's label (the text itself), and records what it was asked. */
function fakeClassifier(classify?: ClassifierApi["classify"]) {
  const calls: { texts: TextInput[]; opts: ClassifyOptions }[] = [];
  const service = {
    observe: () => observation(),
    async classify(texts: TextInput[], opts: ClassifyOptions) {
      calls.push({ texts, opts });
      if (classify) return classify(texts, opts);
      const answers = texts.map((t) => ({ m: { label: String(t), score: 1 } }));
      return { answers, timings: { tokenizationMs: 0, queueMs: 0, inferenceMs: 0 }, rows: texts.length };
    },
    tokenization: async (text: TextInput) => [
      { family: "f", models: ["m"], maxLength: 8, length: 1, ids: [7], tokenTypeIds: [0], tokens: [String(text)] },
    ],
    zeroShot: async () => ({ answers: { sequence: "", labels: [], scores: [] }, timings: NO_TIME, rows: 0 }),
    rerank: async () => ({ answers: [], timings: NO_TIME, rows: 0 }),
  } satisfies ClassifierApi;
  return { service, calls };
}

const NO_TIME = { tokenizationMs: 0, queueMs: 0, inferenceMs: 0 };

/** Metrics that remember what the HTTP layer reported. */
function fakeMetrics() {
  const requests: { route: string; status: number; rows: number }[] = [];
  const phases: RequestTimings[] = [];
  const bodies: string[] = [];
  const metrics: HttpMetrics = {
    request: (route, status, _ms, rows) => void requests.push({ route, status, rows }),
    phases: (t) => void phases.push({ ...t }),
    bodyEnded: (outcome) => void bodies.push(outcome),
    registry: { contentType: "text/plain; version=0.0.4; charset=utf-8", metrics: async () => "fake_total 1\n" },
  };
  return { metrics, requests, phases, bodies };
}

function harness(service: ClassifierApi | null = fakeClassifier().service, logger?: Logger) {
  const m = fakeMetrics();
  const app = createApp({ config: CONFIG, service: () => service, metrics: m.metrics, logger });
  const send = (path: string, init: RequestInit = {}) => app.handle(new Request(`http://localhost${path}`, init));
  const post = (path: string, body: BodyInit, headers: Record<string, string> = JSON_TYPE) =>
    send(path, { method: "POST", body, headers, ...(body instanceof ReadableStream && { duplex: "half" }) });
  return { app, send, post, ...m };
}

/** Checks the status, the JSON envelope and its code; returns the message. */
async function expectError(res: Response, status: number, code: ErrorCode): Promise<string> {
  const body = await res.json();
  expect([res.status, body]).toEqual([status, { error: { code, message: expect.any(String) } }]);
  expect(res.headers.get("content-type")).toContain("application/json");
  return body.error.message;
}

describe("bad requests", () => {
  test("a body refused for the buffered-body budget is reported shed, one whose client left mid-body client_closed", async () => {
    const m = fakeMetrics();
    const app = createApp({
      config: CONFIG,
      service: () => fakeClassifier().service,
      metrics: m.metrics,
      bodyBudget: new BodyBudget(16),
    });
    const post = (body: BodyInit) =>
      app.handle(
        new Request("http://localhost/process", {
          method: "POST",
          body,
          headers: JSON_TYPE,
          duplex: "half",
        } as RequestInit),
      );
    await expectError(await post(JSON.stringify("over the sixteen bytes")), 503, "overloaded");
    const leaving = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(bytes('"half')),
      pull: (c) => c.error(new Error("connection reset")),
    });
    expect((await post(leaving)).status).toBe(499);
    expect(m.bodies).toEqual(["shed", "client_closed"]);
  });

  test("an empty body, non-UTF-8 bytes and malformed JSON are each 400 invalid_json", async () => {
    const { service, calls } = fakeClassifier();
    const { post } = harness(service);
    expect(await expectError(await post("/process", ""), 400, "invalid_json")).toContain("empty");
    const latin1 = new Uint8Array([0x22, 0xe9, 0x22]); // "é" in Latin-1, not UTF-8
    expect(await expectError(await post("/process", latin1), 400, "invalid_json")).toContain("UTF-8");
    expect(await expectError(await post("/process", '{"unclosed'), 400, "invalid_json")).toContain("not valid JSON");
    expect(calls).toEqual([]);
  });

  test("an x-request-timeout-ms that is not a positive integer is 400 invalid_header and reaches no model", async () => {
    const { service, calls } = fakeClassifier();
    const { post } = harness(service);
    for (const bad of ["soon", "0", "-5", "1.5"]) {
      const res = await post("/process", '"hi"', { ...JSON_TYPE, "x-request-timeout-ms": bad });
      expect(await expectError(res, 400, "invalid_header")).toContain("x-request-timeout-ms");
    }
    expect(calls).toEqual([]);
  });

  test("a Content-Type other than JSON, text or form is 415 unsupported_media_type", async () => {
    const { post } = harness();
    await expectError(await post("/process", '"hi"', { "content-type": "text/html" }), 415, "unsupported_media_type");
  });

  test("a declared Content-Length over the limit is 413 payload_too_large before the body is read", async () => {
    const { post } = harness();
    const res = await post("/process", '"small"', { ...JSON_TYPE, "content-length": "5000" });
    expect(await expectError(res, 413, "payload_too_large")).toBe("the body is 5000 bytes; the limit is 1024");
  });

  test("a chunked body without a length is cut off with 413 once it passes the limit, not read to its end", async () => {
    const { post } = harness();
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 256;
        c.enqueue(bytes("a".repeat(256)));
      },
    });
    const message = await expectError(await post("/process", endless), 413, "payload_too_large");
    expect(message).toContain("exceeds the limit of 1024");
    expect(sent).toBeLessThan(4 * 1024);
  });

  test("a body that never finishes is 408 request_timeout after bodyTimeoutMs", async () => {
    const { post } = harness();
    const stalled = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(bytes('"only the start')) });
    const started = performance.now();
    expect(await expectError(await post("/process", stalled), 408, "request_timeout")).toContain("50 ms");
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  test("a body of the wrong shape, an empty array, or more texts than allowed is 422 invalid_input", async () => {
    const { service, calls } = fakeClassifier();
    const { post } = harness(service);
    const message =
      'the body must be a JSON string, a {"text", "text_pair"} object of two strings, or an array of 1 to 4 of those';
    const wrong = [
      '{"text":"hi"}',
      '{"text":"hi","text_pair":2}',
      '[{"text_pair":"ho"}]',
      "42",
      "[]",
      '["a", 1]',
      JSON.stringify(["a", "b", "c", "d", "e"]),
    ];
    for (const body of wrong) {
      expect([body, await expectError(await post("/process", body), 422, "invalid_input")]).toEqual([body, message]);
    }
    await expectError(await post("/tokenize", '{"text":"hi"}'), 422, "invalid_input");
    expect(calls).toEqual([]);
  });

  test("a text pair is answered like a text; an array mixing texts and pairs is answered in order", async () => {
    const { service, calls } = fakeClassifier();
    const { post } = harness(service);
    const pair = { text: "a", text_pair: "b" };
    expect((await post("/process", JSON.stringify(pair))).status).toBe(200);
    const mixed = await post("/process", JSON.stringify(["x", pair, "y"]));
    expect((await mixed.json()).map((a: { m: { label: string } }) => a.m.label)).toEqual(["x", "[object Object]", "y"]);
    expect(calls.map((c) => c.texts)).toEqual([[pair], ["x", pair, "y"]]);
  });
});

describe("routing", () => {
  test("an unknown path is 404 not_found", async () => {
    const { send } = harness();
    expect(await expectError(await send("/wp-admin/setup.php"), 404, "not_found")).toBe("no such route");
  });

  test("a known path with another method is 405 method_not_allowed with the Allow header", async () => {
    const { send } = harness();
    const get = await send("/process");
    expect(get.headers.get("allow")).toBe("POST");
    expect(await expectError(get, 405, "method_not_allowed")).toBe("/process answers POST only");
    const post = await send("/models", { method: "POST", body: "{}" });
    expect(post.headers.get("allow")).toBe("GET");
    await expectError(post, 405, "method_not_allowed");
  });

  test("the route list names exactly the routes the app serves, each with its method", () => {
    const { app } = harness();
    const served = app.routes.map((r) => [r.path, r.method]).sort();
    expect(served).toEqual([...ROUTES].sort());
  });
});

describe("service states and errors", () => {
  test("while the service is null (models loading) /process, /tokenize and /models are 503 not_ready with Retry-After", async () => {
    const { send, post } = harness(null);
    for (const res of [await post("/process", '"hi"'), await post("/tokenize", '"hi"'), await send("/models")]) {
      expect(res.headers.get("retry-after")).toBe("5");
      await expectError(res, 503, "not_ready");
    }
  });

  test("an ApiError from the service is answered with its own status, code and Retry-After", async () => {
    const { service } = fakeClassifier(async () => {
      throw new ApiError("overloaded", "the queue is full");
    });
    const res = await harness(service).post("/process", '"hi"');
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await expectError(res, 503, "overloaded")).toBe("the queue is full");
  });

  test("each request line's level follows README: 5xx error, the 503s the service announces warn, a worker gone (503 inference_unavailable) error", async () => {
    const levelOf = async (error: ApiError) => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s)) });
      const { service } = fakeClassifier(async () => {
        throw error;
      });
      await (await harness(service, logger).post("/process", '"hi"')).text();
      await waitFor(() => lines.some((l) => l.message === "request"), "the request line", 1000);
      return lines.find((l) => l.message === "request")?.level;
    };
    expect(await levelOf(new ApiError("overloaded", "the queue is full"))).toBe("warn");
    expect(await levelOf(new ApiError("shutting_down", "draining"))).toBe("warn");
    expect(await levelOf(new ApiError("inference_unavailable", "m#0 is restarting"))).toBe("error");
    expect(await levelOf(new ApiError("deadline_exceeded", "too late"))).toBe("error");
    expect(await levelOf(new ApiError("invalid_input", "no"))).toBe("info");
  });

  test("any other error is 500 internal, logged, with neither its message nor a stack trace in the body", async () => {
    const { service } = fakeClassifier(async () => {
      throw new TypeError("secret detail at /srv/app/thing.ts:12:3");
    });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s)) });
    const res = await harness(service, logger).post("/process", '"hi"');
    const text = await res.text();
    expect([res.status, JSON.parse(text)]).toEqual([500, { error: { code: "internal", message: "internal error" } }]);
    expect(text).not.toContain("secret");
    const logged = { level: "error", message: "unhandled error", error: "secret detail at /srv/app/thing.ts:12:3" };
    expect(lines).toContainEqual(expect.objectContaining(logged));
  });

  test("/health/ready is 200 when ready, 503 with its status while loading, degraded or draining; /health/live is always 200", async () => {
    const { service } = fakeClassifier();
    const status = async (s: ClassifierApi | null) => {
      const res = await harness(s).send("/health/ready");
      return [res.status, (await res.json()).status];
    };
    const observed = (over: Partial<ServiceObservation>) => ({ ...service, observe: () => observation(over) });
    expect(await status(service)).toEqual([200, "ready"]);
    expect(await status(observed({ models: [modelWith("up")] }))).toEqual([200, "ready"]);
    expect(await status(null)).toEqual([503, "loading"]);
    expect(await status(observed({ models: [modelWith("up"), modelWith("starting")] }))).toEqual([503, "degraded"]);
    // Every model up, but no tokenizer process (all died and are starting again): nothing could be answered.
    const noTokenizer = { ...observation().tokenizers, processes: 0 };
    expect(await status(observed({ models: [modelWith("up")], tokenizers: noTokenizer }))).toEqual([503, "degraded"]);
    expect(await status(observed({ draining: true }))).toEqual([503, "draining"]);
    const live = await harness(null).send("/health/live");
    expect([live.status, await live.json()]).toEqual([200, { status: "live" }]);
  });
});

describe("POST /process and /tokenize", () => {
  test("the service receives the texts, the request's abort signal and the deadline from x-request-timeout-ms", async () => {
    const { service, calls } = fakeClassifier();
    const { post } = harness(service);
    await post("/process", '"one"');
    await post("/process", '["a", "b"]', { ...JSON_TYPE, "x-request-timeout-ms": "250" });
    await post("/process", '"long"', { ...JSON_TYPE, "x-request-timeout-ms": "600000" });
    expect(calls.map((c) => [c.texts, c.opts.timeoutMs])).toEqual([
      [["one"], 30_000],
      [["a", "b"], 250],
      [["long"], 30_000], // a client may shorten the server's deadline, never lengthen it
    ]);
    expect(calls.every((c) => c.opts.signal instanceof AbortSignal)).toBe(true);
  });

  test("a text gets one answer, an array of texts an array of answers in order", async () => {
    const { post } = harness();
    expect(await (await post("/process", '"one"')).json()).toEqual({ m: { label: "one", score: 1 } });
    const answers = [{ m: { label: "a", score: 1 } }, { m: { label: "b", score: 1 } }];
    expect(await (await post("/process", '["a", "b"]')).json()).toEqual(answers);
  });

  test("a 200 from /process carries where the time went, as the service recorded its timings", async () => {
    const { service } = fakeClassifier(async (texts) => ({
      answers: texts.map(() => ({})),
      timings: { tokenizationMs: 1.25, queueMs: 2.5, inferenceMs: 3.75 },
      rows: 5,
    }));
    const { post, phases, requests } = harness(service);
    const res = await post("/process", '"hi"');
    expect(res.status).toBe(200);
    const headers = ["x-tokenization-time", "x-queue-time", "x-inference-time"].map((h) => res.headers.get(h));
    expect(headers).toEqual(["1.25", "2.50", "3.75"]);
    expect(res.headers.get("x-total-time")).toMatch(/^\d+\.\d\d$/);
    expect(phases).toEqual([{ tokenizationMs: 1.25, queueMs: 2.5, inferenceMs: 3.75 }]);
    await res.text();
    await waitFor(() => requests.length === 1, "the request's metrics, reported once the answer is written", 1000);
    expect(requests).toEqual([{ route: "/process", status: 200, rows: 5 }]);
  });

  test("/tokenize answers each text with the service's tokenization, and without timing headers", async () => {
    const { post } = harness();
    const one = await post("/tokenize", '"hi"');
    expect(await one.json()).toEqual(await fakeClassifier().service.tokenization("hi"));
    expect(one.headers.get("x-total-time")).toBeNull();
    const many = (await (await post("/tokenize", '["a", "b"]')).json()) as { tokens: string[] }[][];
    expect(many.map((families) => families[0].tokens)).toEqual([["a"], ["b"]]);
  });
});

describe("request context", () => {
  test("a well-formed x-request-id is echoed, on answers and errors alike", async () => {
    const { post, send } = harness();
    const ok = await post("/process", '"hi"', { ...JSON_TYPE, "x-request-id": "trace-42.a:b" });
    expect([ok.status, ok.headers.get("x-request-id")]).toEqual([200, "trace-42.a:b"]);
    const missing = await send("/nowhere", { headers: { "x-request-id": "lost-1" } });
    expect([missing.status, missing.headers.get("x-request-id")]).toEqual([404, "lost-1"]);
  });

  test("without an x-request-id, or with a malformed one, a new UUID is made", async () => {
    const { post } = harness();
    expect((await post("/process", '"hi"')).headers.get("x-request-id")).toMatch(UUID);
    const odd = await post("/process", '"hi"', { ...JSON_TYPE, "x-request-id": "has spaces; and more" });
    expect(odd.headers.get("x-request-id")).toMatch(UUID);
    const long = await post("/process", '"hi"', { ...JSON_TYPE, "x-request-id": "x".repeat(129) });
    expect(long.headers.get("x-request-id")).toMatch(UUID);
  });

  test("metrics get the route's label for known paths, errors included, and one shared label for unknown paths", async () => {
    const { post, send, requests } = harness();
    const expected: { route: string; status: number; rows: number }[] = [];
    const observe = async (res: Promise<Response>, route: string, status: number, rows = 0) => {
      await (await res).text();
      expected.push({ route, status, rows });
      await waitFor(() => requests.length === expected.length, `the metrics of ${route}`, 1000);
    };
    await observe(post("/process", '"hi"'), "/process", 200, 1);
    await observe(post("/process", "not json"), "/process", 400);
    await observe(send("/process"), "/process", 405);
    await observe(send("/health/live"), "/health/live", 200);
    await observe(send("/openapi"), "/openapi", 200);
    await observe(send("/docs"), "/docs", 200);
    await observe(send("/docs/scalar.js"), "/docs/scalar.js", 200);
    await observe(send(`/wp-admin/${Math.random()}`), "other", 404);
    await observe(send("/process/extra"), "other", 404);
    expect(requests).toEqual(expected);
  });
});

describe("the API description: /openapi, /docs", () => {
  test("/openapi and /docs are counted and logged like every route, with a request id", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s)) });
    const { send, requests } = harness(undefined, logger);
    for (const path of ["/openapi", "/docs"]) {
      const res = await send(path, { headers: { "x-request-id": `docs-${path.slice(1)}` } });
      expect([res.status, res.headers.get("x-request-id")]).toEqual([200, `docs-${path.slice(1)}`]);
      await res.text();
    }
    await waitFor(() => requests.length === 2 && lines.length === 2, "the docs' metrics and log lines", 1000);
    expect(requests).toEqual([
      { route: "/openapi", status: 200, rows: 0 },
      { route: "/docs", status: 200, rows: 0 },
    ]);
    const logged = lines.map((l) => [l.message, l.requestId, l.path, l.status]);
    expect(logged).toEqual([
      ["request", "docs-openapi", "/openapi", 200],
      ["request", "docs-docs", "/docs", 200],
    ]);
  });

  test("/docs runs Scalar from this service (its pinned version), never from a CDN", async () => {
    const { send } = harness();
    const page = await (await send("/docs")).text();
    const { version } = scalarBundle();
    const pinned = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "package.json"), "utf8")).devDependencies;
    expect(version).toBe(pinned["@scalar/api-reference"]);
    expect(page).toContain(`<script src="/docs/scalar.js?v=${version}"`);
    expect(page).not.toMatch(/https?:\/\//);
    const script = await send(`/docs/scalar.js?v=${version}`);
    expect([script.status, script.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    // The version is in the URL, so a browser may keep the file for a year and still sees an upgrade.
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await script.arrayBuffer()).byteLength).toBe(scalarBundle().bytes.byteLength);
  });
});

describe("GET /metrics", () => {
  test("serves the registry's exposition with its content type", async () => {
    const { send, metrics } = harness();
    const res = await send("/metrics");
    const expected = [200, metrics.registry.contentType, "fake_total 1\n"];
    expect([res.status, res.headers.get("content-type"), await res.text()]).toEqual(expected);
  });

  test("is 404 not_found when the app runs without metrics", async () => {
    const app = createApp({ config: CONFIG, service: () => null });
    await expectError(await app.handle(new Request("http://localhost/metrics")), 404, "not_found");
  });
});
