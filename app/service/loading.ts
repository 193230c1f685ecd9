/**
 * Start-up: read the store, decide every model's providers and plan, load the tokenizer families at
 * the lengths the plans allow, spawn the workers and wait until every one is warm. Everything that
 * waits or does IO at start lives here.
 */
import { statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { probeHost, type HostGpuFacts } from "../../lib/gpu/probe.ts";
import { type ModelRecord, readStore, type Store } from "../../lib/store/index.ts";
import { ModelBatcher } from "../batching/batcher.ts";
import type { BatchRunner } from "../batching/runner.ts";
import type { Config, ExecutionProvider } from "../config.ts";
import { type HarnessEntry, ModelWorker } from "../inference/model-worker.ts";
import type { ProviderCandidate } from "../inference/provider-choice.ts";
import { asStoreError, verifyFamilyFile } from "../tokenize/family-file.ts";
import { type TokenizerEntry, TokenizerPool } from "../tokenize/tokenizer-pool.ts";
import type { FamilyInfo } from "../tokenize/tokenizer-protocol.ts";
import { DEFAULT_RESTART_POLICY, restartDelay, type RestartPolicy } from "../workers/restart-policy.ts";
import {
  familyLengths,
  intraOpThreads,
  limitsFor,
  type PlannedModel,
  planModels,
  withLargestIdRow,
} from "./model-plan.ts";
import { ServedModel } from "./served-model.ts";

export type ServiceOptions = Pick<
  Config,
  | "enginesDir"
  | "verifyWeights"
  | "batch"
  | "cpuBatch"
  | "workersPerModel"
  | "intraOpThreads"
  | "maxQueuedTexts"
  | "maxTextChars"
  | "maxSequenceLength"
  | "tokenizerProcesses"
  | "tokenizerRecycleRssPercent"
> & {
  executionProviders: ExecutionProvider[];
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * Only these of the store's models are loaded (the offline job's --models): the cores are shared
   * among their sessions alone, and only their tokenizer families encode. Absent: every model.
   */
  only?: string[];
};

/**
 * What tests and benchmarks change about a start, apart from its settings: never given by the
 * production entry (app/index.ts), so none of it can be switched on by configuration.
 */
export interface LoadSeams {
  /** Workers honour injected faults (exit, throw, hold). */
  faultHooks?: boolean;
  restartPolicy?: RestartPolicy;
  /** The GPU facts to decide providers from, instead of probing this machine. */
  hostFacts?: HostGpuFacts;
  /** Each model's workers start from this entry file instead of the service's (testkit/gpu-stand-in.ts). */
  workerEntry?: (model: ModelRecord) => HarnessEntry;
  /** What the batcher sends a worker's batches through, e.g. a simulated device's timeline around the real run (bench/sim). */
  wrapRunner?: (model: ModelRecord, worker: ModelWorker) => BatchRunner;
  /** The tokenizer processes start from this entry file (e.g. testkit/unchecked-tokenizer-process.ts), or honour fault hooks. */
  tokenizerEntry?: TokenizerEntry;
}

export interface LoadedModels {
  models: ServedModel[];
  tokenizers: TokenizerPool;
}

/** What a machine without GPU providers configured looks like: nothing is probed. */
export const CPU_ONLY: HostGpuFacts = {
  gpu: null,
  gpuError: "not probed: EXECUTION_PROVIDERS has only cpu",
  tensorrt: null,
  providerLibs: { cuda: false, tensorrt: false },
};

/**
 * The tokenizer processes, each with every family's tokenizer encoding up to the longest row its
 * models' plans allow (familyLengths), after each tokenizer.json is proven the one convert recorded
 * (verifyFamilyFile). A file that is not a tokenizer, or whose regexes could abort a process, fails
 * the start naming it (loadTokenizer, in the tokenizer process).
 */
export async function startTokenizers(
  store: Store,
  planned: PlannedModel[],
  opts: Pick<ServiceOptions, "tokenizerProcesses" | "tokenizerRecycleRssPercent" | "log">,
  seams: Pick<LoadSeams, "tokenizerEntry" | "restartPolicy"> = {},
): Promise<TokenizerPool> {
  const lengths = familyLengths(planned);
  const used = store.families.flatMap((f) => {
    const maxLength = lengths.get(f.id);
    return maxLength === undefined ? [] : [{ family: f, maxLength }];
  });
  for (const { family } of used) verifyFamilyFile(family, store.models);
  try {
    return await TokenizerPool.start(
      used.map(({ family, maxLength }) => ({ id: family.id, dir: family.dir, maxLength })),
      {
        processes: opts.tokenizerProcesses,
        recycleAboveRss: opts.tokenizerRecycleRssPercent / 100,
        entry: seams.tokenizerEntry,
        restartDelayMs: (failures) => restartDelay(failures, seams.restartPolicy ?? DEFAULT_RESTART_POLICY),
        verifyFiles: () => {
          for (const { family } of used) verifyFamilyFile(family, store.models);
        },
        log: opts.log,
      },
    );
  } catch (e) {
    throw asStoreError(e);
  }
}

/** Plans every model, then loads the tokenizer families at the planned lengths, then the workers, and waits until all are warm. */
export async function loadModels(opts: ServiceOptions, seams: LoadSeams = {}): Promise<LoadedModels> {
  const log = opts.log ?? (() => {});
  const store = readStore(opts.enginesDir);
  const loaded = opts.only ? store.models.filter((m) => opts.only?.includes(m.key)) : store.models;
  const host = seams.hostFacts ?? (opts.executionProviders.some((p) => p !== "cpu") ? probeHost() : CPU_ONLY);
  const planned = planModels(loaded, opts.executionProviders, host, opts.maxSequenceLength);
  const tokenizers = await startTokenizers(store, planned, opts, seams);
  const families = new Map(tokenizers.families.map((f) => [f.id, f]));
  const threads = intraOpThreads(opts.intraOpThreads, availableParallelism(), loaded.length * opts.workersPerModel);
  const models: ServedModel[] = [];
  try {
    for (const p of planned) {
      const family = families.get(p.stored.record.tokenizer.family);
      if (!family)
        throw new Error(
          `${p.stored.key}: tokenizer family ${p.stored.record.tokenizer.family} was planned but not loaded`,
        );
      models.push(spawnModel(p, family, { opts, seams, log, threads }));
    }
    // Models load (and warm up) in parallel, each in its own workers.
    await Promise.all(models.map((m) => whenReady(m, threads, log)));
  } catch (e) {
    // The other workers finish loading first: one terminated inside onnxruntime's native calls aborts
    // the process (Napi::Error, Bun 1.4.5) before the start's error is logged.
    await Promise.allSettled(models.flatMap((m) => m.workers.map((w) => w.firstReady)));
    for (const m of models) for (const w of m.workers) w.stop();
    tokenizers.stop();
    throw e;
  }
  return { models, tokenizers };
}

/** What every model's start shares. */
interface LoadContext {
  opts: ServiceOptions;
  seams: LoadSeams;
  log: NonNullable<ServiceOptions["log"]>;
  threads: number;
}

function spawnModel(
  { stored, choice, plan }: PlannedModel,
  family: FamilyInfo,
  { opts, seams, log, threads }: LoadContext,
): ServedModel {
  const { record, dir } = stored;
  // Before any worker starts: a missing file fails the start with nothing left running.
  const { onnx } = record;
  const files = [onnx.model, ...(onnx.packed ? [onnx.packed.model] : []), ...(onnx.data ? [onnx.data] : [])];
  const bytesOnDisk = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  const load = {
    candidates: workerCandidates(choice.candidates, dir),
    intraOpThreads: threads,
    input: plan.input,
    output: plan.output,
    warmup: withLargestIdRow(plan.warmup, record, family.largestId),
    files: { dir, mode: opts.verifyWeights, record },
  };
  const entry = seams.workerEntry?.(record);
  const workers = Array.from(
    { length: opts.workersPerModel },
    (_, w) =>
      new ModelWorker(`${record.key}#${w}`, load, { policy: seams.restartPolicy, faultHooks: seams.faultHooks, entry }),
  );
  for (const w of workers)
    w.on((e) => {
      if (e.type !== "state") return;
      if (e.state === "up" && w.restarts > 0)
        log(`worker ${w.name} up`, { provider: w.provider, restarts: w.restarts });
      else if (e.state !== "up" && e.state !== "starting")
        log(`worker ${w.name} ${e.state}`, { reason: e.reason, restarts: w.restarts, restartInMs: e.restartInMs });
    });
  // The batcher sizes each batch for the provider of the worker that takes it, from the plan.
  const runners = workers.map((w) => seams.wrapRunner?.(record, w) ?? w);
  const batcher = new ModelBatcher(record.key, runners, opts.batch, limitsFor(plan, opts));
  return new ServedModel(record, family, plan, workers, batcher, bytesOnDisk, stored.defaultFanOut);
}

/** What a worker loads of each candidate: its file in the model's folder, and the packed graph's inputs when it is one. */
export function workerCandidates(candidates: ProviderCandidate[], dir: string) {
  return candidates.map((c) => ({
    provider: c.provider,
    modelPath: join(dir, c.model),
    ...(c.packed ? { packedInputs: c.packed.inputs } : {}),
  }));
}

/** Waits for every worker's first start, and checks the graph answers as many labels as engine.json names. */
async function whenReady(m: ServedModel, intraOpThreads: number, log: NonNullable<ServiceOptions["log"]>) {
  const states = await Promise.all(m.workers.map((w) => w.firstReady));
  m.loadMs = Math.max(...states.map((s) => s.loadMs));
  const verified = states[0].verified;
  if (states[0].numLabels !== m.record.labels.length)
    throw new Error(
      `${m.key}: the model has ${states[0].numLabels} outputs, engine.json ${m.record.labels.length} labels`,
    );
  log(`model ${m.key} ready`, {
    provider: m.provider,
    providerNotes: m.providerNotes,
    limits: m.limits,
    loadMs: Math.round(m.loadMs),
    // Part of loadMs: the check of its files against engine.json (VERIFY_WEIGHTS).
    filesChecked: verified && { mode: verified.mode, ms: Math.round(verified.ms), bytesHashed: verified.bytesHashed },
    family: m.family.id,
    workers: m.workers.length,
    intraOpThreads,
  });
}
