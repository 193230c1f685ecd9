import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { tinyEngines } from "../../testkit/fixtures.ts";
import { loadConfig } from "../config.ts";
import { ClassifierService, type ServedModel } from "../service/classifier.ts";
import { ABORT_MARKER } from "../tokenize/serve-tokenizers.ts";
import { TOKENIZER_ENTRY } from "../tokenize/tokenizer-process-handle.ts";
import { ChunkClassifier } from "./chunk-classifier.ts";

setDefaultTimeout(120_000);

let service: ClassifierService;
const config = loadConfig({ INTRA_OP_THREADS: "1", TOKENIZER_PROCESSES: "2" });
const stopped = new AbortController();

beforeAll(async () => {
  const enginesDir = await tinyEngines("xlmr", "chunk-classifier");
  // The service's own tokenizer processes, with fault hooks: ABORT_MARKER makes one abort as a panicking tokenizer does.
  service = await ClassifierService.start(
    { ...config, enginesDir },
    {
      tokenizerEntry: { ...TOKENIZER_ENTRY, faultHooks: true },
      restartPolicy: { initialMs: 10, maxMs: 100, stableMs: 60_000 },
      faultHooks: true, // the workers' too: injectFault("throw") fails their next batch
    },
  );
});
afterAll(async () => {
  stopped.abort();
  await service?.stop();
});

/** A chunk classifier over these models, scoring as a bare /process does. */
const chunkOf = (models: ServedModel[]) =>
  new ChunkClassifier(service, models, config, { topK: { kind: "top" }, rawScores: false }, stopped.signal);

describe("a chunk through the service's parts", () => {
  test("answers as the service's classify does; a text its tokenizer process dies on is set aside with why, the others answered", async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `text number ${i} ${"word ".repeat(i % 13)}`);
    const chunk = chunkOf(service.models);
    let rows = 0;
    const poisoned = texts.map((t, i) => (i === 17 || i === 30 ? `${t} ${ABORT_MARKER}` : t));
    const answers = await chunk.classify(poisoned, () => rows++);
    expect(rows).toBe(38);
    for (const i of [17, 30]) {
      const reason = "reason" in answers[i] ? answers[i].reason : "";
      expect(reason).toStartWith("tokenization failed: the tokenizer process exited (SIGABRT)");
    }
    const kept = texts.filter((_, i) => i !== 17 && i !== 30);
    const { answers: expected } = await service.classify(kept, { timeoutMs: 60_000 });
    expect(answers.filter((a) => "answer" in a)).toEqual(expected.map((answer) => ({ answer })));
  });

  test("a batch whose run fails is run again row by row: every row is answered as the service answers it", async () => {
    const [model] = service.models;
    const texts = Array.from({ length: 12 }, (_, i) => `retried text ${i} ${"more ".repeat(i % 5)}`);
    const chunk = chunkOf([model]);
    const batchesBefore = model.batcher.stats.answeredBatches;
    model.workers[0].injectFault("throw");
    const answers = await chunk.classify(texts, () => {});
    const { answers: expected } = await service.classify(texts, { timeoutMs: 60_000, models: [model.key] });
    expect(answers).toEqual(expected.map((answer) => ({ answer })));
    // The failed batch was not answered; the rows then ran alone, on the worker, past the batcher.
    expect(model.batcher.stats.answeredBatches - batchesBefore).toBe(1); // service.classify's
    expect(model.workers[0].restarts).toBe(0);
  });

  test("a row whose run fails alone too is set aside with why; the job goes on", async () => {
    const [model] = service.models;
    const chunk = chunkOf([model]);
    // The batch fails, and then the first of its rows to run alone; the other two answer alone.
    model.workers[0].injectFault("throw");
    let armed = true;
    model.batcher.onDispatch(() =>
      queueMicrotask(() => {
        if (armed) model.workers[0].injectFault("throw");
        armed = false;
      }),
    );
    const texts = ["one", "two", "three"];
    const answers = await chunk.classify(texts, () => {});
    const failed = answers.flatMap((a, t) => ("reason" in a ? [{ t, reason: a.reason }] : []));
    expect(failed.map((f) => f.reason)).toEqual([
      `inference failed: ${model.workers[0].name}: fault injected by a test`,
    ]);
    const others = texts.filter((_, t) => t !== failed[0].t);
    const { answers: expected } = await service.classify(others, { timeoutMs: 60_000, models: [model.key] });
    expect(answers.filter((a) => "answer" in a)).toEqual(expected.map((answer) => ({ answer })));
  });

  type Worker = ServedModel["workers"][number];

  /**
   * `run` while every run of `worker` that holds a row over 40 tokens (a poison text; the others are
   * shorter), or every run at all, makes it exit, as a native crash would.
   */
  async function whileCrashing<T>(worker: Worker, on: "long rows" | "every run", run: () => Promise<T>): Promise<T> {
    const original = worker.run.bind(worker);
    worker.run = (rows) => {
      if (worker.up && (on === "every run" || rows.some((r) => r.length > 40))) worker.injectFault("exit");
      return original(rows);
    };
    try {
      return await run();
    } finally {
      worker.run = original;
    }
  }

  const untilUp = async (worker: Worker) => {
    while (!worker.up) await Bun.sleep(5);
  };

  test("a row that takes its worker down, alone too, is set aside with why; the worker restarts and the other rows are answered", async () => {
    const [model] = service.models;
    const [worker] = model.workers;
    const chunk = chunkOf([model]);
    const texts = Array.from({ length: 10 }, (_, i) => `crash test ${i} ${"word ".repeat(i)}`);
    texts[6] = `poison ${"word ".repeat(80)}`;
    const restartsBefore = worker.restarts;
    const answers = await whileCrashing(worker, "long rows", () => chunk.classify(texts, () => {}));
    const reason = "reason" in answers[6] ? answers[6].reason : "";
    expect(reason).toStartWith("inference failed: it took the model's worker down 2 times, run alone (");
    expect(reason).toContain(`${worker.name} exited`);
    // The batch that held it, then the poison alone twice (the last restart after the answer); the other rows ran alone once, or in their batches.
    await untilUp(worker);
    expect(worker.restarts - restartsBefore).toBe(3);
    const others = texts.filter((_, t) => t !== 6);
    const { answers: expected } = await service.classify(others, { timeoutMs: 60_000, models: [model.key] });
    expect(answers.filter((a) => "answer" in a)).toEqual(expected.map((answer) => ({ answer })));
  });

  test("two rows that each take the worker down are both set aside: a row answered before still runs alone, so the model is not blamed", async () => {
    const [model] = service.models;
    const chunk = chunkOf([model]);
    const texts = Array.from({ length: 8 }, (_, i) => `twin test ${i} ${"word ".repeat(i)}`);
    texts[2] = `poison one ${"word ".repeat(80)}`;
    texts[5] = `poison two ${"more ".repeat(80)}`;
    const answers = await whileCrashing(model.workers[0], "long rows", () => chunk.classify(texts, () => {}));
    const failed = answers.flatMap((a, t) => ("reason" in a ? [t] : []));
    expect(failed).toEqual([2, 5]);
    const others = texts.filter((_, t) => t !== 2 && t !== 5);
    const { answers: expected } = await service.classify(others, { timeoutMs: 60_000, models: [model.key] });
    expect(answers.filter((a) => "answer" in a)).toEqual(expected.map((answer) => ({ answer })));
  });

  test("a model whose worker goes down on every run, on a row it answered before too, fails the chunk and its rows: the rows are not blamed", async () => {
    const [model] = service.models;
    const chunk = chunkOf([model]);
    expect("answer" in (await chunk.classify(["answered before"], () => {}))[0]).toBe(true);
    await whileCrashing(model.workers[0], "every run", async () => {
      await expect(chunk.classify(["one", "two", "three"], () => {})).rejects.toThrow(
        "goes down on a row it answered before too, run alone: the model is at fault, not the rows",
      );
    });
    // The job stops; a new one (a resume) runs the model again once its worker is back.
    await untilUp(model.workers[0]);
    const after = await chunkOf([model]).classify(["one"], () => {});
    expect("answer" in after[0]).toBe(true);
  });

  test("a model whose every run fails, alone too, fails the chunk: its rows are not set aside as if they were to blame", async () => {
    const [model] = service.models;
    const chunk = chunkOf([model]);
    // Every call to the worker fails: the batch, then each row alone.
    let failing = true;
    const fail = () => failing && model.workers[0].injectFault("throw");
    fail();
    const original = model.workers[0].run.bind(model.workers[0]);
    model.workers[0].run = (rows) => {
      const ran = original(rows);
      fail();
      return ran;
    };
    try {
      await expect(chunk.classify(["one", "two", "three"], () => {})).rejects.toThrow("fault injected by a test");
    } finally {
      failing = false;
      model.workers[0].run = original;
    }
    const after = await chunk.classify(["one"], () => {});
    expect("answer" in after[0]).toBe(true);
  });
});
