import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { convertModels } from "../convert/pipeline.ts";
import type { FamilyTokens } from "../app/service/api.ts";
import { readModelRecord } from "../lib/store/index.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";
import { loadConfig } from "../app/config.ts";
import { createLogger } from "../app/log.ts";
import { createApp } from "../app/server.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

const KEYS = ["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii", "jy46604790"];
const engines = tempDir("introspection-engines");
let server: TestServer;

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  server = await startTestServer(engines, { MAX_TEXTS_PER_REQUEST: "16" });
});
afterAll(() => server?.stop());

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });

describe("POST /tokenize", () => {
  /** Every case of a fixture through POST /tokenize (16 texts a request): the texts whose ids differ. */
  async function mismatchesThroughHttp(fixture: string, model: string) {
    const expected = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `${fixture}-expected.json`), "utf8")) as {
      cases: { text: string; input_ids: number[] }[];
    };
    const mismatches: string[] = [];
    for (let i = 0; i < expected.cases.length; i += 16) {
      const chunk = expected.cases.slice(i, i + 16);
      const res = await post(
        "/tokenize",
        chunk.map((c) => c.text),
      );
      expect(res.status).toBe(200);
      const answers = (await res.json()) as FamilyTokens[][];
      answers.forEach((families, k) => {
        const family = families.find((f) => f.models.includes(model))!;
        if (JSON.stringify(family.ids) !== JSON.stringify(chunk[k].input_ids))
          mismatches.push(chunk[k].text.slice(0, 40));
      });
    }
    return { cases: expected.cases.length, mismatches };
  }

  test("the RoBERTa family's ids through HTTP equal the independently computed roberta-base ids, every case", async () => {
    expect(await mismatchesThroughHttp("roberta-base", "jy46604790")).toEqual({ cases: 80, mismatches: [] });
  });

  test("the XLM-R family's ids through HTTP equal the reference ids of the charsmap fixture, every case", async () => {
    expect(await mismatchesThroughHttp("xlmr-charsmap", "cardiffnlp")).toEqual({ cases: 481, mismatches: [] });
  });

  test("one entry per family, with the models that use it, the ids' tokens, and truncation to 512", async () => {
    const res = await post("/tokenize", `Hello world ${"word ".repeat(1000)}`);
    const families = (await res.json()) as FamilyTokens[];
    expect(families.map((f) => f.models)).toEqual([KEYS.slice(0, 4), ["jy46604790"]]);
    for (const f of families) {
      expect([f.length, f.ids.length, f.tokens.length, f.maxLength]).toEqual([512, 512, 512, 512]);
      expect([f.tokens[0], f.tokens[511]]).toEqual(["<s>", "</s>"]);
    }
    expect(families[1].tokens.slice(1, 3)).toEqual(["Hello", "Ġworld"]);
  });

  test("bad bodies get the same errors as /process", async () => {
    const res = await post("/tokenize", { text: "hi" });
    expect([res.status, (await res.json()).error.code]).toEqual([422, "invalid_input"]);
  });
});

describe("GET /models", () => {
  test("every key with its source, labels, family, provider, engine, proof and size figures from engine.json", async () => {
    const models = await (await fetch(`${server.url}/models`)).json();
    expect(models.map((m: { key: string }) => m.key)).toEqual(KEYS);
    for (const m of models) {
      const info = readModelRecord(join(engines, m.key))!;
      expect(m.labels).toEqual(info.labels);
      expect(m.source).toEqual(info.source);
      expect(m.family).toBe(info.tokenizer.family);
      expect(m.maxLength).toBe(info.maxLength);
      expect(m.provider).toBe("cpu");
      expect(m.engine.onnx.modelSha256).toBe(info.onnx.modelSha256);
      expect(m.weightProof).toEqual({
        kind: "byte-identical",
        tensors: info.weights.length,
        identical: info.weights.length,
        allIdentical: true,
        dtype: ["F32"],
      });
      expect(m.parameters.total).toBe(info.parameters.total);
      expect(m.parameters.sparsity).toBeCloseTo(1 - info.parameters.nonZero / info.parameters.total, 12);
      expect(m.bytes.weightsInMemory).toBe(info.parameters.total * 4);
      // The padded graph, the packed one beside it and their one weights file.
      const files = ["model.onnx", "model.packed.onnx", "model.onnx.data"];
      expect(m.bytes.onDisk).toBe(files.reduce((n, f) => n + statSync(join(engines, m.key, f)).size, 0));
    }
  });

  test("inference figures move with traffic: batches, rows, last and mean time per batch and per text", async () => {
    const before = (await (await fetch(`${server.url}/models`)).json())[0].inference;
    expect((await postProcess(server.url, JSON.stringify(["one", "two", "three"]))).status).toBe(200);
    const after = (await (await fetch(`${server.url}/models`)).json())[0].inference;
    expect(after.batches).toBe(before.batches + 1); // an idle model runs the request's rows as one batch
    expect(after.rows).toBe(before.rows + 3);
    expect(after.lastBatch.rows).toBe(3);
    expect(after.lastBatch.ms).toBeGreaterThan(0);
    expect(after.lastBatch.msPerText).toBeCloseTo(after.lastBatch.ms / 3, 9);
    expect(after.meanMsPerText).toBeCloseTo(after.meanMsPerBatch * (after.batches / after.rows), 9);
  });
});

describe("timing headers", () => {
  test("/process answers with x-request-id (the client's, or a new UUID) and where the time went", async () => {
    const mine = await postProcess(server.url, JSON.stringify("hi"), {
      "content-type": "application/json",
      "x-request-id": "trace-42.a:b",
    });
    expect(mine.headers.get("x-request-id")).toBe("trace-42.a:b");
    const made = await postProcess(server.url, JSON.stringify("hi"));
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const odd = await postProcess(server.url, JSON.stringify("hi"), {
      "content-type": "application/json",
      "x-request-id": "has spaces and ; semicolons",
    });
    expect(odd.headers.get("x-request-id")).not.toBe("has spaces and ; semicolons");
    const times = ["x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"].map((h) =>
      Number(made.headers.get(h)),
    );
    expect(times.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
    const [total, tokenization, queue, inference] = times;
    expect(inference).toBeGreaterThan(0);
    for (const part of [tokenization, queue, inference]) expect(part).toBeLessThanOrEqual(total);
  });

  test("errors carry the request id too", async () => {
    const res = await postProcess(server.url, "not json", {
      "content-type": "application/json",
      "x-request-id": "bad-body-1",
    });
    expect([res.status, res.headers.get("x-request-id")]).toEqual([400, "bad-body-1"]);
  });
});

describe("GET /metrics", () => {
  test("counters and histograms move as known traffic says they should", async () => {
    const before = await scrape(server.url);
    const ok = { route: "/process", status: "200" };
    await postProcess(server.url, JSON.stringify("one"));
    await postProcess(server.url, JSON.stringify(["two", "three"]));
    await postProcess(server.url, JSON.stringify("four"));
    await postProcess(server.url, "not json");
    // Requests are counted once their answer is written: wait for the last one to land.
    let after = "";
    const bad = { route: "/process", status: "400" };
    await waitFor(async () => {
      after = await scrape(server.url);
      return (
        sample(after, "classifier_http_requests_total", bad) ===
        sample(before, "classifier_http_requests_total", bad) + 1
      );
    }, "the 400 to be counted");
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels);

    expect(delta("classifier_http_requests_total", ok)).toBe(3);
    expect(delta("classifier_http_request_duration_seconds_count", { route: "/process" })).toBe(4);
    for (const phase of ["tokenization", "queue", "inference"])
      expect(delta("classifier_request_phase_duration_seconds_count", { phase })).toBe(3);
    for (const model of KEYS) {
      // Each request's rows leave together on an idle model: 1 + 2 + 1 rows in 3 batches, one inference each.
      expect(delta("classifier_batch_size_sum", { model })).toBe(4);
      expect(delta("classifier_batch_size_count", { model })).toBe(3);
      expect(delta("classifier_inference_duration_seconds_count", { model })).toBe(3);
      expect(delta("classifier_batch_tokens_count", { model })).toBe(3);
      expect(sample(after, "classifier_queue_depth", { model })).toBe(0);
      // On the CPU each model runs its packed graph: its batches pad nothing, and the metrics say so.
      expect(delta("classifier_batches_packed_total", { model })).toBe(3);
      expect(sample(after, "classifier_padding_efficiency_ratio", { model })).toBe(1);
      expect(sample(after, "classifier_model_info", { model, provider: "cpu" })).toBe(1);
      expect(sample(after, "classifier_model_load_seconds", { model })).toBeGreaterThan(0);
      expect(sample(after, "classifier_worker_up", { worker: `${model}#0` })).toBe(1);
    }
    expect(sample(after, "classifier_pending_texts")).toBe(0);
    expect(after).toContain("# TYPE classifier_shed_total counter");
    expect(after).toContain("classifier_process_resident_memory_bytes");
  });

  test("unknown paths share one route label, so scanners cannot multiply the series", async () => {
    await fetch(`${server.url}/wp-admin/${Math.random()}`);
    await waitFor(
      async () =>
        sample(await scrape(server.url), "classifier_http_requests_total", { route: "other", status: "404" }) > 0,
      "the 404 to be counted",
    );
    expect(await scrape(server.url)).not.toContain("wp-admin");
  });
});

describe("request logs (pino)", () => {
  /** The same service behind an app whose logger writes into an array; requests go through app.handle. */
  function loggedApp(logging: { level: string; sample: number; texts: boolean }) {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s)) });
    const config = { ...loadConfig({ MAX_BODY_BYTES: "65536", MAX_TEXTS_PER_REQUEST: "16" }), logging };
    const app = createApp({ config, service: () => server.service, logger });
    const send = async (body: string, id: string) => {
      const res = await app.handle(
        new Request("http://local/process", {
          method: "POST",
          body,
          headers: { "content-type": "application/json", "x-request-id": id },
        }),
      );
      await res.text();
      // A line absent after 500 ms is taken as not logged (the sampled-out case); present ones land within a tick.
      await waitFor(() => lines.some((l) => l.requestId === id), `the log line of ${id}`, 500).catch(() => {});
      return lines.filter((l) => l.requestId === id);
    };
    return { send, lines };
  }

  test("one info line per request with the request id, status and timings, and no text by default", async () => {
    const { send, lines } = loggedApp({ level: "info", sample: 1, texts: false });
    const [line] = await send(JSON.stringify("a private sentence"), "log-1");
    expect(line).toMatchObject({
      level: "info",
      message: "request",
      requestId: "log-1",
      method: "POST",
      path: "/process",
      status: 200,
      texts: 1,
    });
    for (const key of ["time", "totalMs", "tokenizationMs", "queueMs", "inferenceMs"]) expect(line).toHaveProperty(key);
    expect(JSON.stringify(lines)).not.toContain("a private sentence");
  });

  test("texts are logged only when LOG_TEXTS asks for them", async () => {
    const { send } = loggedApp({ level: "info", sample: 1, texts: true });
    const [line] = await send(JSON.stringify(["first", "second"]), "log-2");
    expect(line.text).toEqual(["first", "second"]);
  });

  test("LOG_SAMPLE=0 logs no successful request but still every error", async () => {
    const { send } = loggedApp({ level: "info", sample: 0, texts: false });
    expect(await send(JSON.stringify("fine"), "log-3")).toEqual([]);
    const [bad] = await send("not json", "log-4");
    expect(bad).toMatchObject({ requestId: "log-4", status: 400 });
  });
});

describe("OpenAPI", () => {
  test("/openapi is a valid OpenAPI document (swagger-parser) listing every route with the schemas it validates with", async () => {
    const res = await fetch(`${server.url}/openapi`);
    expect(res.status).toBe(200);
    const doc = await res.json();
    await SwaggerParser.validate(structuredClone(doc)); // throws on an invalid document
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/health/live",
      "/health/ready",
      "/metrics",
      "/models",
      "/process",
      "/rerank",
      "/tokenize",
      "/zero-shot",
    ]);

    const process = doc.paths["/process"].post;
    const body = process.requestBody.content["application/json"].schema;
    // The request schema is the route's validator: a string, a pair, or an array of 1..MAX_TEXTS_PER_REQUEST (16 here) of them.
    expect(body.anyOf.map((s: { type: string }) => s.type)).toEqual(["string", "object", "array"]);
    expect(body.anyOf[1].required).toEqual(["text", "text_pair"]);
    expect(body.anyOf[2]).toMatchObject({ minItems: 1, maxItems: 16 });
    expect(body.anyOf[0].examples).toEqual(["This is how true happiness looks like 👍😜"]);
    expect(Object.keys(process.responses).sort()).toEqual([
      "200",
      "400",
      "408",
      "413",
      "415",
      "422",
      "500",
      "503",
      "504",
    ]);
    expect(process.responses["503"].description).toBe("not_ready, overloaded, shutting_down, inference_unavailable");
    expect(
      process.responses["422"].content["application/json"].schema.properties.error.properties.code.anyOf.map(
        (c: { const: string }) => c.const,
      ),
    ).toContain("invalid_input");
    expect(doc.paths["/tokenize"].post.requestBody.content["application/json"].schema).toEqual(body);
  });

  test("the docs page is served at /docs", async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain('"url":"openapi"'); // the page loads the document beside it
  });
});
