import { statSync } from "node:fs";
import { join } from "node:path";
import { probeHost, type HostGpuFacts } from "../../lib/gpu/probe.ts";
import { readStore, type ModelRecord } from "../../lib/store/index.ts";
import { ModelBatcher, type BatcherStats } from "../batching/batcher.ts";
import type { Config, ExecutionProvider } from "../config.ts";
import { ApiError } from "../errors.ts";
import { chooseProviders, type ProviderCandidate } from "../inference/provider-choice.ts";
import { ModelWorker } from "../inference/model-worker.ts";
import type { LoadOptions, RowRef } from "../inference/protocol.ts";
import { topLabel } from "../scoring.ts";
import type { Answer, ClassifierApi, ClassifyOptions, FamilyTokens, ServiceHealth, WorkerHealth } from "./api.ts";
import { describeModel } from "./describe.ts";
import { FamilyTokenizer, truncate } from "../tokenize/family-tokenizer.ts";
import { encodePacked, rowsOf, type PackedRows } from "../tokenize/pack.ts";
import { TokenizerPool } from "../tokenize/pool.ts";
import type { RestartPolicy } from "../workers/restart-policy.ts";
import type { WorkerState } from "../workers/supervised-worker.ts";

export interface ServedModel {
  key: string;
  info: ModelRecord;
  family: FamilyTokenizer;
  maxLength: number;
  batcher: ModelBatcher;
  workers: ModelWorker[];
  provider: ExecutionProvider;
  /** Why preferred providers were passed over or failed to load (empty when the first choice loaded). */
  providerNotes: string[];
  /** Shapes the loaded engine accepts (TensorRT profiles); rows are truncated and batches capped to fit. */
  limits: ProviderCandidate["limits"];
  loadMs: number;
  /** model.onnx + its external weights file. */
  bytesOnDisk: number;
}

export type ServiceOptions = Pick<Config, "enginesDir" | "batch" | "cpuMaxBatchSize" | "workersPerModel" | "intraOpThreads" | "maxQueuedTexts" | "tokenizerWorkers" | "inlineTokenizeChars"> & {
  executionProviders: ExecutionProvider[];
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests only: workers honour injected faults (exit, throw, hold). The production entry never sets it. */
  faultHooks?: boolean;
  restartPolicy?: RestartPolicy;
  /** Tests only: the GPU facts to decide providers from, instead of probing this machine. */
  hostFacts?: HostGpuFacts;
};

/** What a machine without GPU providers configured looks like: nothing is probed. */
const CPU_ONLY: HostGpuFacts = { gpu: null, gpuError: "not probed: EXECUTION_PROVIDERS has only cpu", tensorrt: null, providerLibs: { cuda: false, tensorrt: false } };

export interface ServiceCounters {
  /** Requests refused because the queue was full. */
  shed: number;
  deadlineExceeded: number;
  clientClosed: number;
}

/**
 * The classification service, free of HTTP: texts in, one answer per text with every model's label.
 * Admission (a bound on texts in the service), deadlines and client aborts are decided here; each
 * text is tokenized once per family into shared memory and each model's batcher reads it from there.
 */
export class ClassifierService implements ClassifierApi {
  private state: "ready" | "draining" | "stopped" = "ready";
  /** Texts accepted and not yet answered. */
  pendingTexts = 0;
  readonly counters: ServiceCounters = { shed: 0, deadlineExceeded: 0, clientClosed: 0 };
  private idleWaiters: (() => void)[] = [];

  private constructor(
    readonly models: ServedModel[],
    readonly families: Map<string, FamilyTokenizer>,
    private readonly tokenizerPool: TokenizerPool | null,
    private readonly opts: ServiceOptions,
  ) {}

  static async start(opts: ServiceOptions): Promise<ClassifierService> {
    const log = opts.log ?? (() => {});
    const store = readStore(opts.enginesDir);
    const infos = store.models.map((m) => m.record);
    const workerOpts = { policy: opts.restartPolicy, faultHooks: opts.faultHooks };
    const host = opts.hostFacts ?? (opts.executionProviders.some((p) => p !== "cpu") ? probeHost() : CPU_ONLY);

    const specs = store.families.map((f) => ({
      id: f.id,
      dir: f.dir,
      maxLength: Math.max(...infos.filter((i) => i.tokenizer.family === f.id).map((i) => i.maxLength)),
    }));
    const families = new Map(specs.map((f) => [f.id, FamilyTokenizer.load(f.id, f.dir, f.maxLength)]));
    const pool = opts.tokenizerWorkers > 0 ? new TokenizerPool(specs, opts.tokenizerWorkers, workerOpts) : null;
    const models: ServedModel[] = [];
    try {
      for (const [i, info] of infos.entries()) {
        const family = families.get(info.tokenizer.family);
        if (!family) throw new Error(`${info.key}: tokenizer family ${info.tokenizer.family} is not in index.json`);
        const modelDir = store.models[i].dir;
        const bytesOnDisk = statSync(join(modelDir, info.onnx.model)).size + statSync(join(modelDir, info.onnx.data)).size;
        const choice = chooseProviders(opts.executionProviders, { onnxModel: info.onnx.model, onnxSha256: info.onnx.modelSha256, trt: info.trt }, host);
        // The strictest limits of any candidate hold whichever one loads: never a shape outside a profile.
        const limits = choice.candidates.find((c) => c.limits)?.limits;
        const maxLength = Math.min(info.maxLength, limits?.maxSequence ?? Infinity);
        // Batches pay off on a GPU; on the CPU provider they are capped (CPU_MAX_BATCH_SIZE).
        const onCpu = choice.candidates[0].provider === "cpu";
        const batch = { ...opts.batch, maxBatchSize: Math.min(opts.batch.maxBatchSize, limits?.maxBatch ?? Infinity, onCpu ? opts.cpuMaxBatchSize : Infinity) };
        const load: LoadOptions = {
          candidates: choice.candidates.map((c) => ({ provider: c.provider, modelPath: join(modelDir, c.model) })),
          intraOpThreads: opts.intraOpThreads,
          padId: family.padId,
          warmupLengths: [2, Math.min(32, maxLength)],
        };
        const providerNotes = choice.passedOver.map((p) => `${p.provider}: ${p.reason}`);
        const workers = Array.from({ length: opts.workersPerModel }, (_, w) => new ModelWorker(`${info.key}#${w}`, load, workerOpts));
        for (const w of workers) w.on((e) => e.type === "state" && e.state !== "up" && e.state !== "starting" && log(`worker ${w.name} ${e.state}`, { reason: e.reason, restarts: w.restarts }));
        models.push({ key: info.key, info, family, maxLength, workers, batcher: new ModelBatcher(info.key, workers, batch), provider: "cpu", providerNotes, limits, loadMs: 0, bytesOnDisk });
      }
      // Models load (and warm up) in parallel, each in its own worker.
      await Promise.all([
        pool?.ready(),
        ...models.map(async (m) => {
          const states = await Promise.all(m.workers.map((w) => w.firstReady));
          m.provider = states[0].provider;
          m.providerNotes.push(...states[0].failed.map((f) => `${f.provider} failed to load: ${f.error}`));
          m.loadMs = Math.max(...states.map((s) => s.loadMs));
          if (states[0].numLabels !== m.info.labels.length) throw new Error(`${m.key}: the model has ${states[0].numLabels} outputs, engine.json ${m.info.labels.length} labels`);
          log(`model ${m.key} ready`, { provider: m.provider, providerNotes: m.providerNotes, limits: m.limits, loadMs: Math.round(m.loadMs), family: m.family.id, workers: m.workers.length });
        }),
      ]);
    } catch (e) {
      for (const m of models) m.workers.forEach((w) => w.stop());
      pool?.stop();
      throw e;
    }
    return new ClassifierService(models, families, pool, opts);
  }

  /** Ready: accepting, and every worker up (a restarting worker makes the instance unready until it is back). */
  isReady(): boolean {
    return this.state === "ready" && this.allWorkers().every((w) => w.up);
  }

  get draining(): boolean {
    return this.state !== "ready";
  }

  health(): ServiceHealth {
    return {
      pendingTexts: this.pendingTexts,
      models: this.models.map((m) => ({
        key: m.key,
        provider: m.provider,
        providerNotes: m.providerNotes,
        family: m.family.id,
        queued: m.batcher.queued,
        running: m.batcher.running,
        workers: m.workers.map((w) => ({ ...workerHealth(w), provider: w.info?.provider ?? null })),
      })),
      tokenizers: this.tokenizerPool?.workers.map(workerHealth) ?? [],
    };
  }

  /** What each family makes of a text: the ids the models see (truncated), their tokens, and who uses them. */
  tokenization(text: string): FamilyTokens[] {
    return [...this.families.values()].map((f) => {
      const ids = f.encode(text);
      return { family: f.id, models: this.models.filter((m) => m.family === f).map((m) => m.key), maxLength: f.maxLength, length: ids.length, ids: Array.from(ids), tokens: f.tokenStrings(ids) };
    });
  }

  describeModels() {
    return this.models.map(describeModel);
  }

  stats(): Record<string, BatcherStats> {
    return Object.fromEntries(this.models.map((m) => [m.key, m.batcher.stats]));
  }

  /** One answer per text, in order, with every model's key in index order. */
  async classify(texts: string[], opts: ClassifyOptions): Promise<Answer[]> {
    if (this.state !== "ready") throw new ApiError("shutting_down", "the service is shutting down: retry on another instance");
    if (this.pendingTexts + texts.length > this.opts.maxQueuedTexts) {
      this.counters.shed++;
      throw new ApiError("overloaded", `${this.pendingTexts} texts are waiting and the limit is ${this.opts.maxQueuedTexts}: retry later`);
    }
    this.pendingTexts += texts.length;
    const request = new AbortController();
    const timer = setTimeout(() => request.abort(new ApiError("deadline_exceeded", `not started within the deadline of ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const clientGone = () => request.abort(new ApiError("client_closed", "the client closed the connection"));
    opts.signal?.addEventListener("abort", clientGone, { once: true });
    try {
      const tokenizeStarted = performance.now();
      const rows = await this.tokenize(texts, request.signal);
      const timing = { queueMs: 0, runMs: 0 };
      if (opts.timings) opts.timings.tokenizationMs = performance.now() - tokenizeStarted;
      const perModel = await Promise.all(
        this.models.map((m) =>
          Promise.all(m.batcher.submitMany(rows.get(m.family.id)!.map((row) => fitRow(row, m.maxLength, m.family.eosId)), request.signal, timing)).catch((e) => {
            // One model failed: the request fails, so its rows still queued for the others are dropped.
            request.abort(e);
            throw e;
          }),
        ),
      );
      if (opts.timings) Object.assign(opts.timings, { queueMs: timing.queueMs, inferenceMs: timing.runMs });
      return texts.map((_, t) => Object.fromEntries(this.models.map((m, i) => [m.key, topLabel(perModel[i][t], m.info.labels)])));
    } catch (e) {
      const reason = request.signal.aborted ? request.signal.reason : e;
      if (reason instanceof ApiError && reason.code === "deadline_exceeded") this.counters.deadlineExceeded++;
      if (reason instanceof ApiError && reason.code === "client_closed") this.counters.clientClosed++;
      throw reason;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", clientGone);
      this.pendingTexts -= texts.length;
      if (this.pendingTexts === 0) this.idleWaiters.splice(0).forEach((fn) => fn());
    }
  }

  /**
   * Stops accepting (new requests get shutting_down, readiness turns 503) and waits until every
   * accepted text is answered, or timeoutMs. True when everything finished.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.state === "ready") this.state = "draining";
    if (this.pendingTexts === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([idle, late]);
    clearTimeout(timer);
    return drained;
  }

  async stop() {
    this.state = "stopped";
    for (const w of this.allWorkers()) w.stop();
  }

  /** Every supervised worker: the models' and the tokenizers'. */
  allWorkers() {
    return [...this.models.flatMap((m) => m.workers), ...(this.tokenizerPool?.workers ?? [])];
  }

  /** Short requests on this thread (no hop); long ones in a tokenizer worker, abandoned if the request aborts. */
  private async tokenize(texts: string[], signal: AbortSignal): Promise<Map<string, RowRef[]>> {
    const chars = texts.reduce((n, t) => n + t.length, 0);
    let packed: Record<string, PackedRows>;
    if (!this.tokenizerPool || chars <= this.opts.inlineTokenizeChars) packed = Object.fromEntries([...this.families].map(([id, f]) => [id, encodePacked(f, texts)]));
    else packed = await this.tokenizerPool.encode(texts, signal);
    signal.throwIfAborted();
    return new Map(Object.entries(packed).map(([id, p]) => [id, rowsOf(p)]));
  }
}

export const workerHealth = (w: { name: string; state: WorkerState; restarts: number }): WorkerHealth => ({ name: w.name, state: w.state, restarts: w.restarts });

/** A model whose limit is below its family's gets its own truncated copy; the usual case shares. */
function fitRow(row: RowRef, maxLength: number, eosId: number): RowRef {
  if (row.length <= maxLength) return row;
  const ids = truncate(new Int32Array(row.buffer, row.offset * 4, row.length), maxLength, eosId);
  const buffer = new SharedArrayBuffer(ids.length * 4);
  new Int32Array(buffer).set(ids);
  return { buffer, offset: 0, length: ids.length };
}
