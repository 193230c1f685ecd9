/**
 * The raw-engine peer: the ceiling the service should approach. The same ONNX models in the same
 * inference workers (one onnxruntime session each, the same intra-op threads), fed pre-formed batches
 * back to back: no HTTP, no admission, no queue, no batching decisions. Tokenization is counted (any
 * implementation must do it), once per family as the service does.
 */
import { ModelWorker } from "../../app/inference/model-worker.ts";
import { SETTINGS } from "../../app/config.ts";
import { CPU_ONLY, startTokenizers, workerCandidates } from "../../app/service/loading.ts";
import { planModels } from "../../app/service/model-plan.ts";
import { type RowRef, sharedRows } from "../../app/tokenize/pack.ts";
import { readStore } from "../../lib/store/index.ts";
import type { BatchLimits } from "../../app/batching/policy.ts";
import { batchesAtSaturation } from "../lib/batch-plan.ts";
import { percentile } from "../lib/load.ts";

export interface RawEngine {
  keys: string[];
  /** All five models on `texts`, each model in batches of its size, all models at once: texts per second. */
  throughput(
    texts: string[],
    batchSizes: Record<string, number>,
  ): Promise<{ textsPerSecond: number; seconds: number; paddingEfficiency: number }>;
  /**
   * Steady state for `seconds`: every model runs the batches the service's rule forms at saturation
   * (`window` rows queued per model; bench/lib/batch-plan.ts) over `texts`, cycling, all models at once.
   * Rows answered before the deadline ÷ models ÷ seconds: texts per second, with every model busy
   * throughout (a run to the end of a fixed set of texts ends with one model alone, on one core).
   */
  steadyThroughput(
    texts: string[],
    limits: BatchLimits,
    window: number,
    seconds: number,
  ): Promise<{ textsPerSecond: number; seconds: number; paddingEfficiency: number; meanBatch: number }>;
  /** Each model's rows of `texts` in text order (its family's encodings), by model key: to run one model alone. */
  rowsByModel(texts: string[]): Promise<Map<string, RowRef[]>>;
  /** One batch through one model's session. */
  runBatch(key: string, rows: RowRef[]): Promise<void>;
  /** One text at a time through all five models (in parallel, as the service runs them): latency percentiles, ms. */
  singleLatency(texts: string[]): Promise<{ p50: number; p95: number; mean: number }>;
  stop(): void;
}

export async function startRawEngine(
  enginesDir: string,
  intraOpThreads: number,
  graph: "as served" | "padded" = "as served",
): Promise<RawEngine> {
  const store = readStore(enginesDir);
  const infos = store.models.map((m) => m.record);
  // As the service starts on a CPU: the plans first, then the families at the lengths they allow.
  const planned = planModels(store.models, ["cpu"], CPU_ONLY, SETTINGS.maxSequenceLength.default);
  // Tokenized as the service tokenizes: in its tokenizer processes, at its defaults.
  const tokenizers = await startTokenizers(store, planned, {
    tokenizerProcesses: SETTINGS.tokenizerProcesses.default,
    tokenizerRecycleRssPercent: SETTINGS.tokenizerRecycleRssPercent.default,
  });
  const workers = planned.map(({ stored, choice, plan: { input, output, warmup } }) => {
    // The padded graph where asked (the equal-length limit: no padding to save, no gathers to pay), else as served.
    const files =
      graph === "padded"
        ? choice.candidates.map((c) => ({ provider: c.provider, model: stored.record.onnx.model }))
        : choice.candidates;
    const candidates = workerCandidates(files, stored.dir);
    return new ModelWorker(`raw-${stored.record.key}`, { candidates, intraOpThreads, input, output, warmup });
  });
  await Promise.all(workers.map((w) => w.firstReady));
  /** A family's rows in a tokenize() result; every model's family was loaded above, so they are there. */
  const familyRows = <T>(rows: Map<string, T>, family: string): T => {
    const mine = rows.get(family);
    if (mine === undefined) throw new Error(`tokenizer family ${family} was not loaded`);
    return mine;
  };
  const tokenize = async (texts: string[]) =>
    new Map(
      Object.entries(await tokenizers.encode(texts, new AbortController().signal)).map(
        ([id, e]) => [id, sharedRows(e)] as const,
      ),
    );

  /** Every model runs its batches (row indices, planned from its rows' lengths) back to back, all models at once. */
  async function runPlanned(texts: string[], plan: (key: string, lengths: number[]) => number[][]) {
    const started = performance.now();
    const rows = await tokenize(texts);
    let real = 0;
    let padded = 0;
    let batches = 0;
    await Promise.all(
      infos.map(async (info, i) => {
        const mine = familyRows(rows, info.tokenizer.family);
        for (const indices of plan(
          info.key,
          mine.map((r) => r.length),
        )) {
          const batch = indices.map((k) => mine[k]);
          real += batch.reduce((n, r) => n + r.length, 0);
          padded += batch.length * Math.max(...batch.map((r) => r.length));
          batches++;
          await workers[i].run(batch);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const meanBatch = (texts.length * infos.length) / batches;
    return { textsPerSecond: texts.length / seconds, seconds, paddingEfficiency: real / padded, meanBatch };
  }

  return {
    keys: infos.map((i) => i.key),
    throughput(texts, batchSizes) {
      const inOrder = (key: string, lengths: number[]) => {
        const size = Math.max(1, Math.round(batchSizes[key] ?? 1));
        return Array.from({ length: Math.ceil(lengths.length / size) }, (_, b) =>
          lengths.slice(b * size, (b + 1) * size).map((_, k) => b * size + k),
        );
      };
      return runPlanned(texts, inOrder);
    },
    async steadyThroughput(texts, limits, window, seconds) {
      const rows = await tokenize(texts);
      let answered = 0;
      let real = 0;
      let padded = 0;
      let batches = 0;
      const started = performance.now();
      const deadline = started + seconds * 1000;
      await Promise.all(
        infos.map(async (info, i) => {
          const mine = familyRows(rows, info.tokenizer.family);
          const planned = batchesAtSaturation(
            mine.map((r) => r.length),
            limits,
            window,
          ).map((indices) => indices.map((k) => mine[k]));
          for (let b = 0; performance.now() < deadline; b = (b + 1) % planned.length) {
            const batchStarted = performance.now();
            await workers[i].run(planned[b]);
            const ended = performance.now();
            // The batch running at the deadline counts for the share of it done by then: dropping it
            // would undercount large batches most (a 512-token batch is ~1 s of a 12 s window).
            const share = ended <= deadline ? 1 : (deadline - batchStarted) / (ended - batchStarted);
            answered += planned[b].length * share;
            real += planned[b].reduce((n, r) => n + r.length, 0) * share;
            padded += planned[b].length * Math.max(...planned[b].map((r) => r.length)) * share;
            batches += share;
          }
        }),
      );
      const meanBatch = answered / Math.max(1, batches);
      return {
        textsPerSecond: answered / infos.length / seconds,
        seconds,
        paddingEfficiency: real / padded,
        meanBatch,
      };
    },
    async rowsByModel(texts) {
      const rows = await tokenize(texts);
      return new Map(infos.map((info) => [info.key, familyRows(rows, info.tokenizer.family)]));
    },
    async runBatch(key, rows) {
      const i = infos.findIndex((info) => info.key === key);
      if (i < 0) throw new Error(`no model ${key} in the raw engine`);
      await workers[i].run(rows);
    },
    async singleLatency(texts) {
      const ms: number[] = [];
      for (const t of texts) {
        const started = performance.now();
        const rows = await tokenize([t]);
        await Promise.all(infos.map((info, i) => workers[i].run(familyRows(rows, info.tokenizer.family))));
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      return { p50: percentile(ms, 50), p95: percentile(ms, 95), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
    },
    stop: () => {
      for (const w of workers) w.stop();
      tokenizers.stop();
    },
  };
}
