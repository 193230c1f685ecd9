import type { RowAnswer } from "../batching/batcher.ts";
import { ApiError } from "../errors.ts";
import { answer } from "../scoring.ts";
import { truncate, type FamilyTokenizer } from "../tokenize/family-tokenizer.ts";
import { encodePacked, type RowRef, rowsOf } from "../tokenize/pack.ts";
import { Admission, refusalByExpectedWait } from "./admission.ts";
import type {
  Classified,
  ClassifierApi,
  ClassifyOptions,
  FamilyTokens,
  ServiceCounters,
  ServiceObservation,
} from "./api.ts";
import { type LoadSeams, loadModels, type ServiceOptions } from "./loading.ts";
import { type BatchListener, observe, onBatchAnswered } from "./observe.ts";
import { requestSignal } from "./request-signal.ts";
import type { ServedModel } from "./served-model.ts";

export type { LoadSeams, ServiceOptions } from "./loading.ts";
export type { ServedModel } from "./served-model.ts";

/**
 * The classification service, free of HTTP: texts in, one answer per text with every model's label.
 * It orchestrates; admission, the request's deadline/abort signal, tokenization and each model's
 * batcher do the work. Each text is tokenized once per family into shared memory and each model's
 * batcher reads it from there.
 */
export class ClassifierService implements ClassifierApi {
  private state: "ready" | "draining" | "stopped" = "ready";
  readonly counters: ServiceCounters = { shed: 0, deadlineExceeded: 0, clientClosed: 0 };
  private readonly admission: Admission;
  // Aborted by stop(): every request still pending (tokenizing, queued or running) is answered at
  // once, so a drain past its grace period does not wait for native tokenization it cannot cancel.
  private readonly stopped = new AbortController();

  private constructor(
    readonly models: ServedModel[],
    readonly families: Map<string, FamilyTokenizer>,
    maxQueuedTexts: number,
  ) {
    this.admission = new Admission(maxQueuedTexts);
  }

  static async start(opts: ServiceOptions, seams: LoadSeams = {}): Promise<ClassifierService> {
    const { models, families } = await loadModels(opts, seams);
    return new ClassifierService(models, families, opts.maxQueuedTexts);
  }

  /** Texts accepted and not yet answered. */
  get pendingTexts(): number {
    return this.admission.pendingTexts;
  }

  get draining(): boolean {
    return this.state !== "ready";
  }

  /** The service as it stands (app/service/observe.ts): what readiness, /models and the metrics read. */
  observe(): ServiceObservation {
    return observe(this);
  }

  /** Calls fn with each batch a model answers. */
  onBatchAnswered(fn: BatchListener) {
    onBatchAnswered(this.models, fn);
  }

  /**
   * What each family makes of a text: the ids the models see (truncated), their tokens, and who
   * uses them. Under the same admission as classify: a debugging route must not be a way around it.
   */
  async tokenization(text: string, client?: AbortSignal): Promise<FamilyTokens[]> {
    this.admit(1);
    const request = requestSignal(undefined, client, this.stopped.signal);
    try {
      const families = [...this.families.values()];
      const encoded = await untilAborted(Promise.all(families.map((f) => f.encode(text))), request.signal);
      return families.map((f, i) => {
        const ids = encoded[i];
        const models = this.models.filter((m) => m.family === f).map((m) => m.key);
        const tokens = f.tokenStrings(ids);
        return { family: f.id, models, maxLength: f.maxLength, length: ids.length, ids: Array.from(ids), tokens };
      });
    } catch (e) {
      throw this.ended(request.signal, e);
    } finally {
      request.dispose();
      this.admission.release(1);
    }
  }

  /** Why a request ended early (its signal's reason, else the error), counted for the metrics. */
  private ended(signal: AbortSignal, e: unknown): unknown {
    const reason = signal.aborted ? signal.reason : e;
    if (reason instanceof ApiError && reason.code === "deadline_exceeded") this.counters.deadlineExceeded++;
    if (reason instanceof ApiError && reason.code === "client_closed") this.counters.clientClosed++;
    return reason;
  }

  /** Takes places for `texts` texts, or refuses at once: shutting down, or the bound on texts in the service reached. */
  private admit(texts: number) {
    if (this.state !== "ready")
      throw new ApiError("shutting_down", "the service is shutting down: retry on another instance");
    if (!this.admission.tryAdmit(texts)) {
      this.counters.shed++;
      throw new ApiError(
        "overloaded",
        `${this.pendingTexts} texts are waiting and the limit is ${this.admission.limit}: retry later`,
      );
    }
  }

  /** One answer per text, in order, with every model's key in index order, and where the request's time went. */
  async classify(texts: string[], opts: ClassifyOptions): Promise<Classified> {
    this.admit(texts.length);
    const request = requestSignal(opts.timeoutMs, opts.signal, this.stopped.signal);
    try {
      const tokenizeStarted = performance.now();
      const rows = await tokenizeOnce([...this.families.values()], texts, request.signal);
      const tokenizationMs = performance.now() - tokenizeStarted;
      const perModelRows = this.models.map((m) => {
        const familyRows = rows.get(m.family.id);
        if (!familyRows) throw new Error(`${m.key}: its tokenizer family ${m.family.id} is not among the service's`);
        return familyRows.map((row) => fitRow(row, m.maxLength, m.family.suffix));
      });
      this.admitByExpectedWait(perModelRows, opts.timeoutMs - (performance.now() - tokenizeStarted));
      const perModel = await Promise.all(
        this.models.map((m, i) =>
          Promise.all(m.batcher.submit(perModelRows[i], request.signal)).catch((e) => {
            // One model failed: the request fails, so its rows still queued for the others are dropped.
            request.abort(e);
            throw e;
          }),
        ),
      );
      const topK = opts.topK ?? { kind: "top" };
      const answers = texts.map((_, t) =>
        Object.fromEntries(
          this.models.map((m, i) => [m.key, answer(perModel[i][t].logits, m.record.labels, m.record.activation, topK)]),
        ),
      );
      return { answers, timings: { tokenizationMs, ...slowestRow(perModel.flat()) } };
    } catch (e) {
      throw this.ended(request.signal, e);
    } finally {
      request.dispose();
      this.admission.release(texts.length);
    }
  }

  /** Refuses, before anything is queued, a request that cannot be answered within the time it has left. */
  private admitByExpectedWait(perModelRows: RowRef[][], remainingMs: number) {
    const models = this.models.map((m, i) => ({
      queue: m.batcher,
      tokens: perModelRows[i].reduce((n, r) => n + r.length, 0),
    }));
    const refusal = refusalByExpectedWait(models, remainingMs);
    if (!refusal) return;
    if (refusal.code === "overloaded") this.counters.shed++;
    throw refusal;
  }

  /**
   * Stops accepting (new requests get shutting_down, readiness turns 503) and waits until every
   * accepted text is answered, or timeoutMs. True when everything finished.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.state === "ready") this.state = "draining";
    return this.admission.whenIdle(timeoutMs);
  }

  /** Stops the workers and answers every request still pending 503 at once, tokenizing ones included. */
  async stop() {
    this.state = "stopped";
    for (const w of this.allWorkers()) w.stop();
    this.stopped.abort(
      new ApiError("inference_unavailable", "the service stopped before this request was answered: retry"),
    );
  }

  /** Every supervised worker. */
  allWorkers() {
    return this.models.flatMap((m) => m.workers);
  }
}

/**
 * Each text once per family, all at once: the tokenizers encode on a native thread pool, so the
 * HTTP thread only waits (see README, Tokenization).
 */
async function tokenizeOnce(
  families: FamilyTokenizer[],
  texts: string[],
  signal: AbortSignal,
): Promise<Map<string, RowRef[]>> {
  const packed = await untilAborted(Promise.all(families.map((f) => encodePacked(f, texts))), signal);
  return new Map(families.map((f, i) => [f.id, rowsOf(packed[i])]));
}

/**
 * The native tokenization cannot be stopped, but the request need not wait for it: a deadline, a
 * client gone or the service stopping is answered on time (the signal's reason is thrown).
 */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    const result = await Promise.race([work, aborted]);
    signal.throwIfAborted();
    return result;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A model whose limit is below its family's gets its own truncated copy; the usual case shares. */
function fitRow(row: RowRef, maxLength: number, suffix: Int32Array): RowRef {
  if (row.length <= maxLength) return row;
  const ids = truncate(new Int32Array(row.buffer, row.offset * 4, row.length), maxLength, suffix);
  const buffer = new SharedArrayBuffer(ids.length * 4);
  new Int32Array(buffer).set(ids);
  return { buffer, offset: 0, length: ids.length };
}

/** A request waited and ran as long as its slowest row, over every model. */
function slowestRow(rows: RowAnswer[]): { queueMs: number; inferenceMs: number } {
  return {
    queueMs: Math.max(0, ...rows.map((r) => r.queueMs)),
    inferenceMs: Math.max(0, ...rows.map((r) => r.runMs)),
  };
}
