/**
 * What is loaded is what was converted: each model's files are checked against engine.json before a
 * worker loads them (VERIFY_WEIGHTS), the warm-up reaches the model's maximum length, a batch with
 * non-finite logits fails with 500 instead of answering null scores, and the engines folder can be
 * replaced by rename while the service answers. Real services over converted tiny models, each
 * test on its own copy of the store with one model's files broken as an operator or a disk would.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  closeSync,
  cpSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { ServedModel } from "../app/service/classifier.ts";
import { convertModels } from "../convert/pipeline.ts";
import { externalRanges } from "../lib/onnx/external-data.ts";
import { readModelRecord, readStore, writeModelRecord } from "../lib/store/index.ts";
import { loadTokenizer } from "../lib/tokenizer/template.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { postProcess, startTestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(120_000);

const engines = tempDir("verify-engines");
const copies: string[] = [];
const BIAS = "classifier.out_proj.bias";
const WORDS = "roberta.embeddings.word_embeddings.weight";

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
});
afterAll(() => {
  for (const dir of [engines, ...copies]) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the converted store, to break one model's files in. */
function storeCopy(): string {
  const root = tempDir("verify-copy");
  copies.push(root);
  const dir = join(root, "engines");
  cpSync(engines, dir, { recursive: true });
  return dir;
}

/** Writes NaN over `count` floats of one weight from element `from`, in model.onnx.data only: nothing else changes. */
function writeNaN(store: string, key: string, weight: string, from = 0, count?: number) {
  const dir = join(store, key);
  const range = externalRanges(readFileSync(join(dir, "model.onnx"))).find((r) => r.name === weight)!;
  const floats = new Float32Array(count ?? range.length / 4).fill(Number.NaN);
  const fd = openSync(join(dir, "model.onnx.data"), "r+");
  writeSync(fd, new Uint8Array(floats.buffer), 0, floats.byteLength, range.offset + from * 4);
  closeSync(fd);
}

const json = (texts: string[]) => JSON.stringify(texts);
const mapped = () =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("model.onnx.data"));

describe("files checked against engine.json at start", () => {
  test("by default (sha256), NaN written over cardiffnlp's classifier bias fails the start, naming the file, the weight and the fix", async () => {
    const store = storeCopy();
    writeNaN(store, "cardiffnlp", BIAS);
    const start = startTestServer(store);
    const file = `${store}/cardiffnlp/model\\.onnx\\.data`;
    await expect(start).rejects.toThrow(
      new RegExp(
        `cardiffnlp#0: failed to load: ${file}: weight ${BIAS} \\(bytes \\d+–\\d+\\) has sha256 \\w+…, ` +
          "engine.json records \\w+…; .*convert again \\(`bun run convert`\\)",
      ),
    );
  });

  test("the packed graph the CPU worker loads is checked too: one byte changed in model.packed.onnx fails the start, naming it", async () => {
    const store = storeCopy();
    const graph = join(store, "cardiffnlp", "model.packed.onnx");
    const bytes = readFileSync(graph);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(graph, bytes);
    await expect(startTestServer(store, { VERIFY_WEIGHTS: "size" })).rejects.toThrow(`${graph}: has sha256`);
  });

  test("VERIFY_WEIGHTS=size: a weights file cut short still fails the start, naming it", async () => {
    const store = storeCopy();
    const data = join(store, "cardiffnlp", "model.onnx.data");
    const bytes = statSync(data).size;
    truncateSync(data, bytes - 4);
    await expect(startTestServer(store, { VERIFY_WEIGHTS: "size" })).rejects.toThrow(
      `${data}: is ${bytes - 4} bytes, model.onnx reads weights up to byte ${bytes} (a truncated copy?)`,
    );
  });

  test("VERIFY_WEIGHTS=size: the NaN bias passes the check, and the warm-up's non-finite logits fail the start", async () => {
    const store = storeCopy();
    writeNaN(store, "cardiffnlp", BIAS);
    await expect(startTestServer(store, { VERIFY_WEIGHTS: "size" })).rejects.toThrow(
      /cardiffnlp#0: failed to load: .*warm-up at 1 × 2 tokens failed: the model answered non-finite logits/,
    );
  });
});

describe("warm-up at the maximum length", () => {
  test("engine.json saying a maxLength beyond the graph's position table (600 > 512) fails the start at the warm-up of 600 tokens", async () => {
    const store = storeCopy();
    const dir = join(store, "cardiffnlp");
    writeModelRecord(dir, { ...readModelRecord(dir)!, maxLength: 600 });
    // MAX_SEQUENCE_LENGTH above it, so the plan takes engine.json at its word (the default 512 would cut it).
    await expect(startTestServer(store, { MAX_SEQUENCE_LENGTH: "1024" })).rejects.toThrow(
      new RegExp(
        "cardiffnlp#0: failed to load: .*warm-up at 1 × 600 tokens failed \\(engine.json's maxLength is 600: " +
          "more than the graph takes\\? convert the model again\\): .*indices element out of data bounds",
      ),
    );
  });
});

describe("non-finite logits", () => {
  test("NaN in one token's embedding (VERIFY_WEIGHTS=size): texts with it get 500 inference_failed naming the model, never a null score; the worker stays up", async () => {
    const store = storeCopy();
    const family = readStore(store).families.find((f) => f.members.includes("cardiffnlp"))!;
    const tokenizer = loadTokenizer(family.dir);
    const ids = async (text: string) => (await tokenizer.encode(text)).getIds();
    const poisoned = (await ids("hello"))[1];
    const hidden = readModelRecord(join(store, "cardiffnlp"))!.weights.find((w) => w.name === WORDS)!.shape[1];
    writeNaN(store, "cardiffnlp", WORDS, poisoned * hidden, hidden);
    expect(await ids("good morning")).not.toContain(poisoned);

    const s = await startTestServer(store, { VERIFY_WEIGHTS: "size" });
    try {
      const cardiff = s.service.models.find((m) => m.key === "cardiffnlp")!;
      const res = await postProcess(s.url, json(["hello"]));
      expect(res.status).toBe(500);
      const body = await res.json();
      expect(body.error.code).toBe("inference_failed");
      expect(body.error.message).toMatch(
        /^cardiffnlp#0: the model answered non-finite logits \(NaN or ±Inf\) for 1 of 1 rows/,
      );

      expect([cardiff.workers[0].up, cardiff.workers[0].restarts]).toEqual([true, 0]);
      expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
      const clean = await postProcess(s.url, json(["good morning"]));
      expect(clean.status).toBe(200);
      const [answer] = await clean.json();
      for (const m of s.service.models) expect(Number.isFinite(answer[m.key].score)).toBe(true);
    } finally {
      await s.stop();
    }
  });
});

describe("the engines folder replaced while serving", () => {
  const TEXTS = ["one text", "another text"];

  /** Swaps a fresh copy of `store` in by renames (as replaceDir does), optionally broken first; removes the old one. */
  function replaceByRename(store: string, breakIt?: (fresh: string) => void) {
    cpSync(store, `${store}.new`, { recursive: true });
    breakIt?.(`${store}.new`);
    renameSync(store, `${store}.old`);
    renameSync(`${store}.new`, store);
    rmSync(`${store}.old`, { recursive: true, force: true });
  }

  /** Makes the worker exit on its next call and waits until it has come back or gone down again. */
  async function restart(s: { url: string }, model: ServedModel, until: "up" | "down") {
    const worker = model.workers[0];
    const reached = new Promise<string | undefined>((resolve) =>
      worker.on((e) => e.type === "state" && e.state === until && resolve(e.reason)),
    );
    worker.injectFault("exit");
    expect((await postProcess(s.url, json(["the worker exits on this one"]))).status).toBe(503);
    return reached;
  }

  test("by rename: every request answered with the same scores; the old files stay mapped (deleted) until a restart loads and checks the new ones", async () => {
    const store = storeCopy();
    const s = await startTestServer(store, {}, { faultHooks: true });
    try {
      const expected = await (await postProcess(s.url, json(TEXTS))).json();
      expect(mapped().some((l) => l.endsWith(`${store}/cardiffnlp/model.onnx.data`))).toBe(true);

      let swapping = true;
      const statuses: number[] = [];
      const answers: unknown[] = [];
      const client = (async () => {
        while (swapping || statuses.length < 10) {
          const res = await postProcess(s.url, json(TEXTS));
          statuses.push(res.status);
          answers.push(await res.json());
        }
      })();
      await waitFor(() => statuses.length >= 3, "a few answers before the swap");
      replaceByRename(store);
      const afterSwap = statuses.length;
      swapping = false;
      await client;
      expect(statuses.length).toBeGreaterThan(afterSwap);
      expect(new Set(statuses)).toEqual(new Set([200]));
      for (const a of answers) expect(a).toEqual(expected);
      // onnxruntime maps the weights: the removed folder's files live on while mapped.
      expect(mapped().some((l) => l.includes("cardiffnlp/model.onnx.data (deleted)"))).toBe(true);

      const cardiff = s.service.models.find((m) => m.key === "cardiffnlp")!;
      await restart(s, cardiff, "up");
      expect(cardiff.workers[0].info!.verified).toMatchObject({ mode: "sha256" });
      expect(mapped().some((l) => l.endsWith(`${store}/cardiffnlp/model.onnx.data`))).toBe(true);
      expect(await (await postProcess(s.url, json(TEXTS))).json()).toEqual(expected);
    } finally {
      await s.stop();
    }
  });

  test("a restart onto a replaced folder whose weights differ from the record in memory is refused: the worker stays down", async () => {
    const store = storeCopy();
    const s = await startTestServer(
      store,
      {},
      { faultHooks: true, restartPolicy: { initialMs: 10, maxMs: 60_000, stableMs: 60_000 } },
    );
    try {
      const cardiff = s.service.models.find((m) => m.key === "cardiffnlp")!;
      replaceByRename(store, (fresh) => writeNaN(fresh, "cardiffnlp", BIAS));
      const reason = await restart(s, cardiff, "down");
      expect(reason).toMatch(/^exited/);
      const refused = await new Promise<string | undefined>((resolve) =>
        cardiff.workers[0].on((e) => e.type === "state" && e.state === "down" && resolve(e.reason)),
      );
      expect(refused).toMatch(
        new RegExp(`^failed to load: ${store}/cardiffnlp/model\\.onnx\\.data: weight ${BIAS} .* has sha256`),
      );
      expect((await fetch(`${s.url}/health/ready`)).status).toBe(503);
      expect((await postProcess(s.url, json(TEXTS))).status).toBe(503);
      // Stopped with nothing in flight: a worker terminated inside an onnxruntime call (the other models still
      // running the refused request's rows, or this one loading) aborts the process (Napi::Error).
      const worker = cardiff.workers[0];
      await waitFor(() => s.service.models.every((m) => m.batcher.running === 0), "the other models' runs to end");
      await waitFor(() => worker.state === "down", "the worker between two restarts");
      worker.stop();
    } finally {
      await s.stop();
    }
  });
});
