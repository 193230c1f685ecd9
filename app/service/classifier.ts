import type { RowAnswer } from "../batching/batcher.ts";
import { ApiError } from "../errors.ts";
import { answer } from "../scoring.ts";
import { type PackedRow, packRow, rowView, sharedRows } from "../tokenize/pack.ts";
import type { TokenizerPool } from "../tokenize/tokenizer-pool.ts";
import { type FamilyEncodings, type TextInput, charCount } from "../tokenize/tokenizer-protocol.ts";
import { LONGEST_FIRST_RIGHT, type Truncation, truncateRow } from "../tokenize/truncation.ts";
import { Admission, type QueueLoad, refusalByExpectedWait } from "./admission.ts";
import type {
  Answer,
  Classified,
  ClassifierApi,
  ClassifyOptions,
  FamilyTokens,
  RerankRequest,
  RunOptions,
  ServiceCounters,
  ZeroShotRequest,
  ServiceObservation,
} from "./api.ts";
import { type LoadSeams, loadModels, type ServiceOptions } from "./loading.ts";
import { type BatchListener, observe, onBatchAnswered } from "./observe.ts";
import { requestSignal } from "./request-signal.ts";
import type { ServedModel } from "./served-model.ts";
import { rerank } from "./rerank.ts";
import { type ZeroShotOptions, zeroShot } from "./zero-shot.ts";

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
  // Aborted by stop(): every request pending (tokenizing, queued or running) is answered at once.
  private readonly stopped = new AbortController();

  private constructor(
    readonly models: ServedModel[],
    readonly tokenizers: TokenizerPool,
    private readonly limits: { maxQueuedTexts: number; maxTextChars: number },
    private readonly admission = new Admission(limits.maxQueuedTexts),
  ) {}

  static async start(opts: ServiceOptions, seams: LoadSeams = {}): Promise<ClassifierService> {
    const { models, tokenizers } = await loadModels(opts, seams);
    return new ClassifierService(models, tokenizers, opts);
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
  async tokenization(text: TextInput, client?: AbortSignal): Promise<FamilyTokens[]> {
    this.admit([text]);
    const request = requestSignal(undefined, client, this.stopped.signal);
    try {
      return familyTokens(await this.tokenizers.encode([text], request.signal, true), this.tokenizers, this.models);
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

  /**
   * Takes places for the texts, or refuses at once: a text over the length limit, shutting down, or
   * the bound on texts in the service reached.
   */
  private admit(texts: TextInput[]) {
    refuseLongText(texts, this.limits.maxTextChars);
    if (this.state !== "ready")
      throw new ApiError("shutting_down", "the service is shutting down: retry on another instance");
    if (!this.admission.tryAdmit(texts.length)) {
      this.counters.shed++;
      throw new ApiError(
        "overloaded",
        `${this.pendingTexts} texts are waiting and the limit is ${this.admission.limit}: retry later`,
      );
    }
  }

  /** One answer per text, in order, with every model's key in index order, and where the request's time went. */
  async classify(texts: TextInput[], opts: ClassifyOptions): Promise<Classified> {
    const models = this.models.filter((m) => (opts.models ? opts.models.includes(m.key) : m.defaultFanOut));
    const { perModel, timings, rows } = await this.run(texts, models, opts);
    return { answers: answersOf(models, perModel, texts.length, opts), timings, rows };
  }

  // /zero-shot and /rerank: pairs through run() (app/service/zero-shot.ts, rerank.ts).
  zeroShot = (req: ZeroShotRequest, opts: ZeroShotOptions) => zeroShot(this, req, opts);
  rerank = (req: RerankRequest, opts: RunOptions) => rerank(this, req, opts);

  /** Each input's logits from each of `models`, in order, under admission, deadline and batching (/process, /zero-shot). */
  async run(inputs: TextInput[], models: ServedModel[], opts: RunOptions) {
    this.admit(inputs);
    const request = requestSignal(opts.timeoutMs, opts.signal, this.stopped.signal);
    try {
      const tokenizeStarted = performance.now();
      this.refuseIfLate([{ queue: this.tokenizers, tokens: charCount(inputs) }], opts.timeoutMs, "tokenization");
      const rows = await tokenizeOnce(this.tokenizers, inputs, request.signal, opts.truncation);
      const tokenizationMs = performance.now() - tokenizeStarted;
      const perModelRows = models.map((m) => modelRows(m, rows, opts));
      const tokens = (i: number) => perModelRows[i].reduce((n, r) => n + r.length, 0);
      const queues = models.map((m, i) => ({ queue: m.batcher, tokens: tokens(i) }));
      this.refuseIfLate(queues, opts.timeoutMs - (performance.now() - tokenizeStarted), "inference");
      const perModel = await Promise.all(
        models.map((m, i) =>
          Promise.all(m.batcher.submit(perModelRows[i], request.signal)).catch((e) => {
            // One model failed: the request fails, so its rows still queued for the others are dropped.
            request.abort(e);
            throw e;
          }),
        ),
      );
      const timings = { tokenizationMs, ...slowestRow(perModel.flat()) };
      return { perModel, timings, rows: inputs.length * models.length };
    } catch (e) {
      throw this.ended(request.signal, e);
    } finally {
      request.dispose();
      this.admission.release(inputs.length);
    }
  }

  /** Refuses, before its work is queued, a request that cannot be answered within the time it has left. */
  private refuseIfLate(queues: { queue: QueueLoad; tokens: number }[], remainingMs: number, work: string) {
    const refusal = refusalByExpectedWait(queues, remainingMs, work);
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
    this.tokenizers.stop();
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
 * Each text's answer from every model's logits (perModel[model][text]), keyed by model in `models`' order:
 * what /process answers, and what the offline batch job (app/batch) writes.
 */
export function answersOf(
  models: ServedModel[],
  perModel: Pick<RowAnswer, "logits">[][],
  texts: number,
  opts: Pick<ClassifyOptions, "topK" | "rawScores">,
): Answer[] {
  const topK = opts.topK ?? { kind: "top" };
  const scoring = (m: ServedModel) => (opts.rawScores ? "raw" : m.record.activation);
  return Array.from({ length: texts }, (_, t) =>
    Object.fromEntries(models.map((m, i) => [m.key, answer(perModel[i][t].logits, m.record.labels, scoring(m), topK)])),
  );
}

/** Each text once per family, in a tokenizer process; the rows in shared memory every model's workers read. */
export async function tokenizeOnce(
  pool: TokenizerPool,
  texts: TextInput[],
  signal: AbortSignal,
  truncation: Truncation = LONGEST_FIRST_RIGHT,
): Promise<Map<string, PackedRow[]>> {
  const encoded = await pool.encode(texts, signal, false, truncation);
  signal.throwIfAborted();
  return new Map(Object.entries(encoded).map(([family, e]) => [family, sharedRows(e)]));
}

/** /tokenize's answer: each family's ids and tokens for the one text, and the models that use them. */
function familyTokens(
  encoded: Record<string, FamilyEncodings>,
  pool: TokenizerPool,
  models: ServedModel[],
): FamilyTokens[] {
  return pool.families.map((f) => {
    const { ids, typeIds, tokens } = encoded[f.id];
    const users = models.filter((m) => m.family.id === f.id).map((m) => m.key);
    const text = {
      length: ids.length,
      ids: Array.from(ids),
      tokenTypeIds: Array.from(typeIds),
      tokens: tokens?.[0] ?? [],
    };
    return { family: f.id, models: users, maxLength: f.maxLength, ...text };
  });
}

/** A text (either text of a pair) longer than the limit is refused before anything is done with it (413 text_too_long). */
function refuseLongText(texts: TextInput[], maxTextChars: number) {
  const longest = (t: TextInput) => (typeof t === "string" ? t.length : Math.max(t.text.length, t.text_pair.length));
  const long = texts.findIndex((t) => longest(t) > maxTextChars);
  if (long >= 0)
    throw new ApiError(
      "text_too_long",
      `text ${long} has ${longest(texts[long])} characters; the limit is ${maxTextChars} (MAX_TEXT_CHARS)`,
    );
}

/** A model's rows: its family's, each cut to the model's own limit, or refused when longer (refuseTooLong). */
export function modelRows(
  m: ServedModel,
  rows: Map<string, PackedRow[]>,
  { truncation = LONGEST_FIRST_RIGHT, refuseTooLong }: Pick<RunOptions, "truncation" | "refuseTooLong"> = {},
): PackedRow[] {
  const familyRows = rows.get(m.family.id);
  if (!familyRows) throw new Error(`${m.key}: its tokenizer family ${m.family.id} is not among the service's`);
  if (m.record.pairsRefused && familyRows.some((r) => r.spans.length === 2))
    throw new ApiError("invalid_input", `model ${m.key} cannot take text pairs: ${m.record.pairsRefused}`);
  if (refuseTooLong) refuseLongerThan(m, familyRows);
  return familyRows.map((row) => fitRow(row, m.maxLength, truncation));
}

/** TEI's `truncate: false`: an input with more tokens than the model takes is refused, naming it. */
function refuseLongerThan(m: ServedModel, rows: PackedRow[]) {
  const whole = (r: PackedRow) => r.spans.reduce((n, s) => n + s.full - s.length, r.length);
  const long = rows.findIndex((r) => whole(r) > m.maxLength);
  if (long >= 0)
    throw new ApiError(
      "text_too_long",
      `input ${long} has ${whole(rows[long])} tokens and model ${m.key} takes at most ${m.maxLength}: send truncate: true to cut it`,
    );
}

/**
 * A model whose limit is below its family's gets its own truncated copy (cut as the request says,
 * from the texts' untruncated lengths); the usual case shares. A pair only_first cannot fit is cut
 * longest_first: the model cannot take it whole.
 */
function fitRow(row: PackedRow, maxLength: number, truncation: Truncation): PackedRow {
  if (row.length <= maxLength) return row;
  const view = rowView(row);
  const cut =
    truncateRow(view, maxLength, truncation) ??
    truncateRow(view, maxLength, { ...truncation, strategy: "longest_first" });
  return packRow(cut ?? view);
}

/** A request waited and ran as long as its slowest row, over every model. */
function slowestRow(rows: RowAnswer[]): { queueMs: number; inferenceMs: number } {
  return {
    queueMs: Math.max(0, ...rows.map((r) => r.queueMs)),
    inferenceMs: Math.max(0, ...rows.map((r) => r.runMs)),
  };
}
