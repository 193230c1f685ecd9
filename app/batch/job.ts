/**
 * The offline batch job (`bun run classify`): the service's classifier started as the service starts
 * it (ClassifierService.start: the same model plan, engines, tokenizer processes, workers and batch
 * policy), the input read in chunks, each chunk classified (ChunkClassifier) and committed
 * (JobFiles), a few chunks in flight so that the models never wait for the next one to be read and
 * tokenized, and the output assembled from the committed chunks at the end.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "../config.ts";
import type { LogFn } from "../log.ts";
import { readStore, type StoredModel } from "../../lib/store/index.ts";
import { ClassifierService } from "../service/classifier.ts";
import { loadFailure, type StartupFailure } from "../startup-failure.ts";
import { type BatchArgs, UsageError } from "./args.ts";
import { ChunkClassifier } from "./chunk-classifier.ts";
import { type JobIdentity, JobFiles } from "./job-state.ts";
import { type JobProgress, rate, startProgress } from "./progress.ts";
import { checkRow, inShard, type RowError, shardSize, type SourceRow } from "./rows.ts";
import { type OutputColumn, openTables, type Tables } from "./table-files.ts";
import { ChunkWindow } from "./window.ts";

/** Chunks classified at once: the next one is read and tokenized while the models run the current one. */
const CHUNKS_IN_FLIGHT = 2;

const ERROR_COLUMNS: OutputColumn[] = [
  { name: "row", type: "BIGINT" },
  { name: "id", type: "VARCHAR" },
  { name: "reason", type: "VARCHAR" },
];

/** The models could not start: the error line the operator reads (as the service's start-up failures). */
export class JobStartFailed extends Error {
  constructor(readonly failure: StartupFailure) {
    super(`${failure.stage}: ${failure.error}`);
  }
}

export interface JobOutcome {
  /** The shard's rows, and those of them in the errors file. */
  rows: number;
  errors: number;
}

interface Run {
  args: BatchArgs;
  config: Config;
  log: LogFn;
  tables: Tables;
  files: JobFiles;
  classifier: ChunkClassifier;
}

/** Runs the job to its end; throws UsageError, StateMismatch, JobStartFailed, or what stopped it. */
export async function runBatchJob(args: BatchArgs, config: Config, log: LogFn, tty: boolean): Promise<JobOutcome> {
  const tables = await openTables();
  try {
    await checkColumns(tables, args);
    const enginesDir = args.engines ?? config.enginesDir;
    const chosen = chosenModels(storedModels(enginesDir), args);
    // Before any model loads: the state of another job is refused, a finished job needs nothing.
    const files = new JobFiles(args.output.path, identity(args, config, chosen), log);
    if (files.complete) {
      // A finished job whose output was removed since: its state alone cannot rebuild it.
      if (!existsSync(args.output.path))
        throw new UsageError(
          `${args.output.path} is gone but its state says the job finished: remove ${args.output.path}.state.json and ${args.output.path}.parts/ to run it again`,
        );
      log("already complete: nothing to do", { output: args.output.path, ...outcomeOf(files) });
      return outcomeOf(files);
    }
    const only = chosen.map((m) => m.key); // the models it classifies, and no others, share the cores
    const service = await ClassifierService.start({ ...config, enginesDir, log, only }).catch((e) => {
      throw new JobStartFailed(loadFailure(e, enginesDir));
    });
    const stopped = new AbortController();
    try {
      const models = service.models.filter((m) => chosen.some((c) => c.key === m.key));
      const classifier = new ChunkClassifier(service, models, config, args, stopped.signal);
      return await classifyTable({ args, config, log, tables, files, classifier }, tty);
    } finally {
      stopped.abort(new Error("the job stopped"));
      await service.stop();
    }
  } finally {
    tables.close();
  }
}

/** The input must exist, and the columns named must be its own (a JSON-lines file's records each have their own: checked per row). */
async function checkColumns(tables: Tables, args: BatchArgs) {
  if (!existsSync(args.input.path)) throw new UsageError(`--input ${args.input.path}: no such file`);
  const names = await tables.columnNames(args.input);
  if (names === null) return;
  const { id, text, pair } = args.columns;
  for (const [flag, column] of [
    ["--id-column", id],
    ["--text-column", text],
    ["--pair-column", pair],
  ] as const)
    if (column !== null && !names.includes(column))
      throw new UsageError(`${flag}: ${args.input.path} has no column "${column}" (its columns: ${names.join(", ")})`);
}

/** The engines folder's models, read as the service reads them (a failure reads as the service's start-up failure). */
function storedModels(enginesDir: string): StoredModel[] {
  try {
    return readStore(enginesDir).models;
  } catch (e) {
    throw new JobStartFailed(loadFailure(e, enginesDir));
  }
}

/** --models, in the engines' order (as /process's ?models=); without it, the default fan-out (as a bare /process). */
function chosenModels(served: StoredModel[], args: BatchArgs): StoredModel[] {
  const keys = served.map((m) => m.key);
  const unknown = args.models?.filter((k) => !keys.includes(k)) ?? [];
  if (unknown.length > 0)
    throw new UsageError(`--models: unknown model "${unknown[0]}"; the engines hold ${keys.join(", ")}`);
  const models = served.filter((m) => (args.models ? args.models.includes(m.key) : m.defaultFanOut));
  const refused = args.columns.pair === null ? undefined : models.find((m) => m.record.pairsRefused);
  if (refused)
    throw new UsageError(`--pair-column: model ${refused.key} cannot take text pairs: ${refused.record.pairsRefused}`);
  if (models.some((m) => m.key === args.columns.id))
    throw new UsageError(`--id-column "${args.columns.id}" is also a model's key, which names its output column`);
  return models;
}

function identity(args: BatchArgs, config: Config, models: StoredModel[]): JobIdentity {
  const { size, mtimeMs } = statSync(args.input.path);
  return {
    input: { path: resolve(args.input.path), bytes: size, modifiedMs: mtimeMs },
    shard: `${args.shard.index}/${args.shard.count}`,
    chunkRows: args.chunkRows,
    columns: args.columns,
    models: models.map((m) => ({ key: m.key, sha256: m.record.onnx.modelSha256 })),
    scores: { topK: JSON.stringify(args.topK), raw: args.rawScores },
    limits: { maxTextChars: config.maxTextChars, maxSequenceLength: config.maxSequenceLength },
  };
}

/** The shard's rows committed so far, and those of them in the errors file. */
const outcomeOf = (files: JobFiles): JobOutcome => ({
  rows: files.committed.reduce((n, c) => n + c.rows, 0),
  errors: files.committed.reduce((n, c) => n + c.errors, 0),
});

async function classifyTable(run: Run, tty: boolean): Promise<JobOutcome> {
  const { files, log } = run;
  const outcome = () => outcomeOf(files);
  const started = performance.now();
  const before = outcome();
  const total = shardSize(await run.tables.countRows(run.args.input), run.args.shard);
  const progress = startProgress(total, before.rows, tty, log);
  let chunks: number;
  try {
    chunks = await classifyChunks(run, progress);
  } finally {
    progress.stop();
  }
  await writeOutputs(run, chunks);
  const seconds = (performance.now() - started) / 1000;
  const done = outcome();
  log("classified", {
    ...done,
    rowsThisRun: done.rows - before.rows,
    seconds: Math.round(seconds * 10) / 10,
    rowsPerSecond: rate(done.rows - before.rows, 0, seconds).rowsPerSecond,
    paddingEfficiency: Math.round(run.classifier.paddingEfficiency() * 1000) / 1000,
    output: run.args.output.path,
    errorsFile: run.args.errors.path,
  });
  return done;
}

/** Reads the shard's rows in chunks and classifies those not yet committed; the number of chunks. */
async function classifyChunks(run: Run, progress: JobProgress): Promise<number> {
  const window = new ChunkWindow(CHUNKS_IN_FLIGHT);
  let chunk = 0;
  let filled: SourceRow[] = [];
  const flush = async () => {
    const [k, rows] = [chunk++, filled];
    filled = [];
    if (!run.files.isCommitted(k)) await window.add(() => classifyChunk(run, progress, k, rows));
  };
  for await (const rows of run.tables.rows(run.args.input, run.args.columns)) {
    for (const r of rows) {
      if (!inShard(r.row, run.args.shard)) continue;
      filled.push(r);
      if (filled.length === run.args.chunkRows) await flush();
    }
    window.throwIfFailed();
  }
  if (filled.length > 0) await flush();
  await window.drain();
  return chunk;
}

async function classifyChunk(run: Run, progress: JobProgress, chunk: number, rows: SourceRow[]) {
  const { args, config, classifier } = run;
  const checked = rows.map((r) => checkRow(r, args.columns.pair !== null, config.maxTextChars));
  const good = checked.flatMap((c) => ("input" in c ? [c] : []));
  const bad = checked.flatMap((c): RowError[] => ("reason" in c ? [c] : []));
  progress.rows(bad.length);
  progress.errors(bad.length);
  const answers = await classifier.classify(
    good.map((g) => g.input),
    () => progress.rows(1),
  );
  const answerLines = good.flatMap((g, i) => {
    const a = answers[i];
    return "answer" in a ? [`${JSON.stringify({ [args.columns.id]: g.id, ...a.answer })}\n`] : [];
  });
  // Rows the tokenizer could not encode, with those refused up front, in row order.
  const failed = good.flatMap((g, i) => {
    const a = answers[i];
    return "reason" in a ? [{ row: g.row, id: g.id, reason: a.reason }] : [];
  });
  progress.rows(failed.length);
  progress.errors(failed.length);
  const errors = [...bad, ...failed].sort((x, y) => x.row - y.row);
  const errorLines = errors.map((e) => `${JSON.stringify({ row: e.row, id: e.id, reason: e.reason })}\n`);
  run.files.commit(chunk, answerLines, errorLines);
}

/** The output and the errors file from every chunk, in input order; then the job is complete. */
async function writeOutputs(run: Run, chunks: number) {
  const { args, files, tables, classifier } = run;
  const all = Array.from({ length: chunks }, (_, k) => k);
  const missing = all.filter((k) => !files.isCommitted(k));
  if (missing.length > 0) throw new Error(`chunks ${missing.join(", ")} were read but not committed`);
  const answer =
    args.topK.kind === "top" ? "STRUCT(score DOUBLE, label VARCHAR)" : "STRUCT(label VARCHAR, score DOUBLE)[]";
  const columns = [
    { name: args.columns.id, type: "VARCHAR" },
    ...classifier.models.map((m) => ({ name: m.key, type: answer })),
  ];
  await tables.write(
    all.map((k) => files.answersPart(k)),
    columns,
    args.output,
  );
  await tables.write(
    all.map((k) => files.errorsPart(k)),
    ERROR_COLUMNS,
    args.errors,
  );
  files.completed();
}
