/** WORKERS_PER_MODEL=2 with real workers: two sessions per model, each answering, side by side. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { ServedModel } from "../app/service/classifier.ts";
import { convertModels } from "../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { answerDifference, ReferenceClassifier } from "../testkit/reference.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";

setDefaultTimeout(60_000);

const engines = tempDir("two-workers-engines");
let server: TestServer;
let reference: ReferenceClassifier;
let cardiff: ServedModel;

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  reference = await ReferenceClassifier.load(engines);
  server = await startTestServer(engines, { WORKERS_PER_MODEL: "2" }, { faultHooks: true });
  cardiff = server.service.models.find((m) => m.key === "cardiffnlp")!;
});
afterAll(async () => {
  await server?.stop();
  await reference?.release();
});

async function expectReferenceAnswer(res: Response, text: string) {
  expect(res.status).toBe(200);
  const answer = await res.json();
  const want = await reference.answers(text);
  expect(reference.keys.map((key) => answerDifference(answer[key], want[key]))).toEqual(reference.keys.map(() => ""));
}

describe("WORKERS_PER_MODEL=2", () => {
  test("every model has two workers up, in readiness, /models and the metrics", async () => {
    const ready = await (await fetch(`${server.url}/health/ready`)).json();
    expect(ready.status).toBe("ready");
    for (const m of ready.models) expect(m.workers.map((w: { state: string }) => w.state)).toEqual(["up", "up"]);
    const models = await (await fetch(`${server.url}/models`)).json();
    for (const m of models) expect(m.workers).toHaveLength(2);
    const metrics = await scrape(server.url);
    for (const key of reference.keys)
      expect([0, 1].map((i) => sample(metrics, "classifier_worker_up", { worker: `${key}#${i}` }))).toEqual([1, 1]);
  });

  test("while one worker of a model holds a batch, the other answers the next request; both answer as the model does", async () => {
    const [first, second] = cardiff.workers;
    first.injectFault("hold");
    const holding = new Promise<void>((resolve) => first.on((e) => e.type === "holding" && resolve()));
    const heldText = "held by the first worker";
    const held = postProcess(server.url, JSON.stringify(heldText));
    await holding;
    try {
      // Answered while the first worker still holds: the second one ran it.
      const text = "answered by the second worker";
      await expectReferenceAnswer(await postProcess(server.url, JSON.stringify(text)), text);
      expect(cardiff.batcher.running).toBe(1);
      expect(second.state).toBe("up");
    } finally {
      first.release();
    }
    await expectReferenceAnswer(await held, heldText);
  });

  test("a burst of concurrent requests is answered as the models answer them one by one", async () => {
    const texts = Array.from({ length: 24 }, (_, i) => `text ${i} ${"word ".repeat(i * 5)}`);
    const answers = await Promise.all(texts.map((t) => postProcess(server.url, JSON.stringify(t))));
    for (const [i, res] of answers.entries()) await expectReferenceAnswer(res, texts[i]);
  });
});
