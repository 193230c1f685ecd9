import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { slowEngines } from "../testkit/fixtures.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(await slowEngines(), { MAX_TEXTS_PER_REQUEST: "16", MAX_BATCH_SIZE: "16" });
});
afterAll(() => server?.stop());

test("GET /health/live answers while a long batch runs: inference never blocks the HTTP thread", async () => {
  const events: string[] = [];
  const batcher = server.service.models[0].batcher;
  const dispatched = new Promise<number>((resolve) => batcher.onDispatch(resolve));
  const long = Array.from({ length: 16 }, (_, i) => `${i} ${"many words in a long text ".repeat(120)}`);
  const processing = postProcess(server.url, JSON.stringify(long)).then(async (r) => {
    events.push(`process ${r.status}`);
    return r.json();
  });
  expect(await dispatched).toBe(16); // the whole request is one batch, now running in the worker
  expect(batcher.running).toBe(1);
  const live = await fetch(`${server.url}/health/live`);
  events.push(`live ${live.status}`);
  expect(batcher.running).toBe(1); // still running when the liveness answer came back
  const answers = await processing;
  expect(events).toEqual(["live 200", "process 200"]);
  expect(answers).toHaveLength(16);
});
