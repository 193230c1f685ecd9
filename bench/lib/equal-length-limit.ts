/**
 * The equal-length limit: the request rate this machine's hardware allows the served models, the
 * yardstick the service (and the batch job) is measured against (issue 25).
 *
 * Definition, the one place it is written:
 *   - a model's rate r_m: one onnxruntime session with 1 intra-op thread, alone, running batches of
 *     equal-length rows (no padding) at the text set's own token lengths, rows per second, at its best
 *     batch size among a few. A few seconds run only some dozen batches, so the lengths run are the
 *     set's lengthStrata, in whole cycles (run in text order, as before, a few seconds of batches of 16
 *     saw only the first 5 tweets' lengths). The best size is chosen on one run of each size, and its
 *     rate is a run of its own after the choice (modelRate: the best of noisy runs is biased high);
 *   - one request is one text through every served model, so a core spends Σ_m 1/r_m seconds on it,
 *     and the machine's limit is cores ÷ Σ_m (1 / r_m) requests per second.
 * With five equal models that is "cores × one session's best rows/s ÷ 5". Issue 25 measured
 * single-thread sessions on separate cores not to slow one another, so one session alone stands for
 * each core; the allCores diagnostic (all cores at once) read 0.80–1.13 of the limit from one minute
 * to the next on this VM, 1.016 on average over the five runs of 2026-12-04.
 */
import { availableParallelism } from "node:os";
import type { RowRef } from "../../app/tokenize/pack.ts";
import { startRawEngine } from "../peers/raw.ts";

/** cores ÷ Σ_models (1 / rows per second of the model): requests (one text, every model) per second. */
export function requestLimit(cores: number, rowsPerSecond: readonly number[]): number {
  if (rowsPerSecond.length === 0) return Number.NaN;
  return cores / rowsPerSecond.reduce((seconds, r) => seconds + 1 / r, 0);
}

/**
 * Rates measured between limits (the limit before run r is limits[r], after it limits[r + 1]), each
 * ÷ the mean of the two around it: this machine's speed drifts over minutes by more than the margins
 * asked of the service and the batch job.
 */
export function ratiosToLimitsAround(limits: readonly number[], rates: readonly number[]): number[] {
  if (limits.length !== rates.length + 1) throw new Error("a limit before and after every measured run");
  return rates.map((rate, r) => rate / ((limits[r] + limits[r + 1]) / 2));
}

/** One model's rate at one batch size. */
export interface BatchRate {
  batch: number;
  rowsPerSecond: number;
}

/** The best of a model's rates over the batch sizes tried (the first of equals). */
export function bestRate(rates: readonly BatchRate[]): BatchRate {
  if (rates.length === 0) throw new Error("no batch size was measured");
  return rates.reduce((best, r) => (r.rowsPerSecond > best.rowsPerSecond ? r : best));
}

export interface ModelRate {
  key: string;
  /** The best batch size (the best of `rates`) and its rate in a run of its own, after the choice: the model's rate. */
  best: BatchRate;
  /** The runs the best size was chosen on, one per size. */
  rates: BatchRate[];
}

/** The limit on one text set. */
export interface EqualLengthLimit {
  /** What the texts are (graders, tweets, …). */
  source: string;
  cores: number;
  requestsPerSecond: number;
  models: ModelRate[];
  /**
   * Not the limit, a diagnostic (LimitOptions.allCores): the same equal-length batches, every model's
   * at one batch size (the largest best), run on all cores at once, `cores` sessions at a time. What
   * it falls short of the limit (if it does) is what sessions running side by side cost one another.
   */
  allCores?: { batch: number; requestsPerSecond: number };
}

export interface LimitOptions {
  /** Batch sizes tried per model; its best counts. */
  batchSizes: number[];
  /** Seconds of runs per model and batch size, at least: runs end with a whole cycle of the lengths, one cycle at the least. */
  seconds: number;
  /** Texts of each set whose lengths are used (the first ones, whose lengthStrata are run). */
  texts: number;
  /** Cores the limit counts (default: this machine's). */
  cores?: number;
  /** Also measure EqualLengthLimit.allCores. */
  allCores?: boolean;
}

const LIMIT_DEFAULTS: LimitOptions = { batchSizes: [1, 4, 8, 16], seconds: 3, texts: 2000 };

/** How many lengths stand for a text set: the middles of this many strata of its lengths. */
const LENGTH_STRATA = 16;

/**
 * The rows that stand for the set's lengths: sorted by length, the row in the middle of each of
 * `strata` equal strata (all rows when fewer). Run in whole cycles, they weigh short and long texts as
 * the set does, in a few dozen batches.
 */
export function lengthStrata<T extends { length: number }>(rows: readonly T[], strata = LENGTH_STRATA): T[] {
  const sorted = [...rows].sort((a, b) => a.length - b.length);
  if (sorted.length <= strata) return sorted;
  return Array.from({ length: strata }, (_, j) => sorted[Math.floor(((j + 0.5) * sorted.length) / strata)]);
}

/** A run function for one model: awaits one batch through its session. */
type RunBatch = (rows: RowRef[]) => Promise<void>;

/**
 * Rows per second of one session on batches of `batch` copies of one row (equal lengths, no
 * padding), one batch of each of the set's lengthStrata in turn, in whole cycles, for at least one
 * cycle and about `seconds`: every batch started
 * before the deadline is finished and counted, and the time is the time they took.
 */
async function equalLengthRate(run: RunBatch, set: RowRef[], batch: number, seconds: number): Promise<number> {
  const rows = lengthStrata(set);
  // The first run of a shape pays for its allocation: the largest (the longest row, at this batch size) is paid before timing.
  await run(Array(batch).fill(rows[rows.length - 1]));
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let done = 0;
  do {
    for (const row of rows) await run(Array(batch).fill(row));
    done += batch * rows.length;
  } while (performance.now() < deadline);
  return done / ((performance.now() - started) / 1000);
}

/**
 * One cycle of each model's lengthStrata, `batch` equal rows a run, on `cores` lanes at once (a lane
 * takes the model with the most batches left that is not running): requests per second, one
 * request being one row through every model.
 */
async function allCoresRate(
  rowsByModel: Map<string, RowRef[]>,
  runBatch: (key: string, rows: RowRef[]) => Promise<void>,
  batch: number,
  cores: number,
): Promise<number> {
  const left = new Map([...rowsByModel].map(([key, rows]) => [key, lengthStrata(rows)]));
  const running = new Map<string, Promise<void>>();
  const next = () =>
    [...left].filter(([key, l]) => l.length > 0 && !running.has(key)).sort((a, b) => b[1].length - a[1].length)[0];
  const started = performance.now();
  let rowsRun = 0;
  const lane = async () => {
    for (;;) {
      const take = next();
      if (!take) {
        // Every model with batches left is running on another lane: wait for one to finish, unless none is left.
        if (![...left.values()].some((l) => l.length > 0)) return;
        await Promise.race(running.values());
        continue;
      }
      const [key, rows] = take;
      const run = runBatch(key, Array(batch).fill(rows.shift() as RowRef));
      running.set(key, run);
      await run;
      running.delete(key);
      rowsRun += batch;
    }
  };
  await Promise.all(Array.from({ length: cores }, lane));
  return rowsRun / rowsByModel.size / ((performance.now() - started) / 1000);
}

/**
 * One model's rate on its rows: each batch size run once, the best chosen, then the chosen size run
 * again, and that run is the rate. The best of several runs is biased high: on this VM one size's
 * runs a minute apart differed by up to 15%, so the largest of four picks the luckiest run, and a
 * limit made of such picks sat a few percent above what the same batches ran at just after.
 */
export async function modelRate(
  key: string,
  rows: RowRef[],
  run: RunBatch,
  o: Pick<LimitOptions, "batchSizes" | "seconds">,
): Promise<ModelRate> {
  const rates: BatchRate[] = [];
  for (const batch of o.batchSizes)
    rates.push({ batch, rowsPerSecond: await equalLengthRate(run, rows, batch, o.seconds) });
  const { batch } = bestRate(rates);
  return { key, best: { batch, rowsPerSecond: await equalLengthRate(run, rows, batch, o.seconds) }, rates };
}

/** Every model's rate on the texts, one model at a time, then the machine's limit. */
async function limitOf(
  source: string,
  rowsByModel: Map<string, RowRef[]>,
  runBatch: (key: string, rows: RowRef[]) => Promise<void>,
  o: LimitOptions,
): Promise<EqualLengthLimit> {
  const models: ModelRate[] = [];
  for (const [key, rows] of rowsByModel) models.push(await modelRate(key, rows, (r) => runBatch(key, r), o));
  const cores = o.cores ?? availableParallelism();
  const limit: EqualLengthLimit = {
    source,
    cores,
    requestsPerSecond: requestLimit(
      cores,
      models.map((m) => m.best.rowsPerSecond),
    ),
    models,
  };
  if (!o.allCores) return limit;
  const batch = Math.max(...models.map((m) => m.best.batch));
  return { ...limit, allCores: { batch, requestsPerSecond: await allCoresRate(rowsByModel, runBatch, batch, cores) } };
}

/**
 * The equal-length limit of the engines in `engines` on each text set, measured now (run it with
 * nothing else loading the machine): one raw engine of single-thread sessions (bench/peers/raw.ts,
 * the service's own workers and tokenizers), started and stopped here.
 */
export async function measureEqualLengthLimit(
  engines: string,
  textSets: { source: string; texts: string[] }[],
  options: Partial<LimitOptions> = {},
): Promise<EqualLengthLimit[]> {
  const o = { ...LIMIT_DEFAULTS, ...options };
  const engine = await startRawEngine(engines, 1, "padded");
  try {
    const limits: EqualLengthLimit[] = [];
    for (const { source, texts } of textSets) {
      const rows = await engine.rowsByModel(texts.slice(0, o.texts));
      limits.push(await limitOf(source, rows, engine.runBatch, o));
    }
    return limits;
  } finally {
    engine.stop();
  }
}

/** What the limit would be with each model's best choosing run as its rate (the biased estimate, for comparison). */
export function bestOfRunsLimit(l: EqualLengthLimit): number {
  return requestLimit(
    l.cores,
    l.models.map((m) => bestRate(m.rates).rowsPerSecond),
  );
}

/** One line per text set: the limit and each model's rate. */
export function describeLimit(l: EqualLengthLimit): string {
  const models = l.models.map((m) => `${m.key} ${m.best.rowsPerSecond.toFixed(1)} rows/s at ${m.best.batch}`);
  const choosing = `; the best choosing runs would say ${bestOfRunsLimit(l).toFixed(2)}`;
  const all = l.allCores
    ? `; all cores at once, batches of ${l.allCores.batch}: ${l.allCores.requestsPerSecond.toFixed(2)} req/s (${(l.allCores.requestsPerSecond / l.requestsPerSecond).toFixed(3)} of the limit)`
    : "";
  return `${l.source}: ${l.requestsPerSecond.toFixed(2)} req/s on ${l.cores} cores (${models.join(", ")})${choosing}${all}`;
}
