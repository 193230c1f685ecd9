/**
 * The served /openapi document against the service's real answers: every answer of /process (a
 * text, texts, with top_k), /tokenize, /models and /health/ready (loading, ready, degraded,
 * draining) validates against the schema the document gives for its route and status. The schemas
 * are exact (no field they do not name), so an answer that gains a field without its schema fails
 * here: the document cannot drift from what the service says.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../app/config.ts";
import { createApp, listenOptions } from "../app/server.ts";
import type { ServedModel } from "../app/service/classifier.ts";
import { convertModels } from "../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { type Schemas, servedDocument } from "../testkit/openapi.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

const engines = tempDir("conformance-engines");
let server: TestServer;
let cardiff: ServedModel;
let paths: Schemas;
let violations: Awaited<ReturnType<typeof servedDocument>>["violations"];

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  // A slow first restart, so the window in which readiness is degraded is wide enough to observe.
  server = await startTestServer(
    engines,
    { MAX_TEXTS_PER_REQUEST: "4" },
    { faultHooks: true, restartPolicy: { initialMs: 1500, maxMs: 5000, stableMs: 60_000 } },
  );
  cardiff = server.service.models.find((m) => m.key === "cardiffnlp")!;
  ({ paths, violations } = await servedDocument(server.url));
});
afterAll(() => server?.stop());

const post = (path: string, body: unknown, query = "") =>
  fetch(`${server.url}${path}${query}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
const ready = () => fetch(`${server.url}/health/ready`);

describe("real answers validate against the served /openapi document", () => {
  test("every object in an answer's schema is exact: a field the document does not name is a violation", () => {
    const loose: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (!node || typeof node !== "object") return;
      const o = node as Record<string, unknown>;
      if (o.type === "object" && o.properties && o.additionalProperties !== false) loose.push(at);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
    };
    for (const [path, methods] of Object.entries(paths))
      for (const [method, op] of Object.entries(methods)) walk(op.responses, `${method.toUpperCase()} ${path}`);
    expect(loose).toEqual([]);
  });

  test("/health/ready while the models load (the app listening with no service yet) is the document's 503", async () => {
    // As app/index.ts serves before the models are loaded: the same app, its service not there yet.
    const config = loadConfig({ ENGINES_DIR: engines });
    const app = createApp({ config, service: () => null });
    app.listen(listenOptions({ ...config, host: "127.0.0.1", port: 0 }));
    try {
      const res = await fetch(`http://127.0.0.1:${app.server!.port}/health/ready`);
      expect(res.status).toBe(503);
      expect(await violations(res.clone(), "/health/ready")).toEqual([]);
      expect((await res.json()).status).toBe("loading");
    } finally {
      await app.stop();
    }
  });

  test("/health/ready when ready, /health/live", async () => {
    const res = await ready();
    expect(res.status).toBe(200);
    expect(await violations(res.clone(), "/health/ready")).toEqual([]);
    const body = await res.json();
    expect([body.status, body.models.length]).toEqual(["ready", 5]);
    expect(await violations(await fetch(`${server.url}/health/live`), "/health/live")).toEqual([]);
  });

  test("/process: a text, texts, a pair and a mixed array, each model's top label, and with top_k=2 and top_k=all its ranked labels", async () => {
    const cases: [unknown, string, (body: unknown) => void][] = [
      ["a text", "", (b) => expect(Object.values(b as object)[0]).toHaveProperty("label")],
      [["one", "two"], "", (b) => expect(b).toHaveLength(2)],
      ["a text", "?top_k=2", (b) => expect(Object.values(b as object)[0]).toHaveLength(2)],
      [["one", "two"], "?top_k=all", (b) => expect(Array.isArray(Object.values((b as object[])[0])[0])).toBe(true)],
      [
        { text: "a premise", text_pair: "a hypothesis" },
        "",
        (b) => expect(Object.values(b as object)[0]).toHaveProperty("label"),
      ],
      [["one", { text: "a", text_pair: "b" }], "", (b) => expect(b).toHaveLength(2)],
    ];
    for (const [texts, query, shape] of cases) {
      const res = await post("/process", texts, query);
      expect(res.status).toBe(200);
      expect(await violations(res.clone(), "/process", "post")).toEqual([]);
      shape(await res.json());
    }
  });

  test("/tokenize: a text, texts, a pair, and texts mixed with pairs", async () => {
    const pair = { text: "a premise", text_pair: "a hypothesis" };
    for (const texts of ["a text", ["one", "two"], pair, ["one", pair]]) {
      const res = await post("/tokenize", texts);
      expect(res.status).toBe(200);
      expect(await violations(res, "/tokenize", "post")).toEqual([]);
    }
  });

  test("/models, after traffic (a last batch and mean times, not nulls)", async () => {
    expect((await postProcess(server.url, JSON.stringify("traffic"))).status).toBe(200);
    const res = await fetch(`${server.url}/models`);
    expect(res.status).toBe(200);
    expect(await violations(res.clone(), "/models")).toEqual([]);
    const models = await res.json();
    expect(models).toHaveLength(5);
    expect(models[0].inference.lastBatch).not.toBeNull();
  });

  test("/health/ready while a worker restarts (degraded), and the errors /process answers meanwhile", async () => {
    cardiff.workers[0].injectFault("exit");
    const failed = await postProcess(server.url, JSON.stringify("sent to the dying worker"));
    expect(failed.status).toBe(503);
    expect(await violations(failed, "/process", "post")).toEqual([]);
    const res = await ready();
    expect(res.status).toBe(503);
    expect(await violations(res.clone(), "/health/ready")).toEqual([]);
    expect((await res.json()).status).toBe("degraded");
    await waitFor(() => cardiff.workers[0].up, "the worker to be restarted");
    expect((await ready()).status).toBe(200);
  });

  test("/health/ready while draining, and /process refused with shutting_down", async () => {
    expect(await server.service.drain(5_000)).toBe(true);
    const res = await ready();
    expect(res.status).toBe(503);
    expect(await violations(res.clone(), "/health/ready")).toEqual([]);
    expect((await res.json()).status).toBe("draining");
    const refused = await postProcess(server.url, JSON.stringify("too late"));
    expect(refused.status).toBe(503);
    expect(await violations(refused, "/process", "post")).toEqual([]);
  });
});
