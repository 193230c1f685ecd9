import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { CostEstimate } from "./cost.ts";
import { FairQueue, type QueuedEntry, type RowAnswer } from "./queue.ts";
import { type BatchLimits, type BatchPolicyOptions, batchCost, decide, withinLimits } from "./policy.ts";
import type { BatchRunner } from "./runner.ts";

export type { RowAnswer } from "./queue.ts";

/** Time, injectable so the batcher's waits are tested without sleeping. */
export interface Clock {
  now(): number;
  /** Calls fn at (or after) time `at`; returns a cancel function. */
  at(at: number, fn: () => void): () => void;
}

const systemClock: Clock = {
  now: () => performance.now(),
  at: (at, fn) => {
    const t = setTimeout(fn, Math.max(0, at - performance.now()));
    return () => clearTimeout(t);
  },
};

export interface AnsweredBatch {
  rows: number;
  realTokens: number;
  /** Tokens run: longest row × rows, or (packed) the real tokens: nothing is padded. */
  paddedTokens: number;
  /** Run by the packed graph (rows concatenated). */
  packed: boolean;
  runMs: number;
}

export interface BatcherStats {
  /** Dispatched to a worker: real and padded tokens (longest row × rows; packed batches pad none). */
  realTokens: number;
  paddedTokens: number;
  /** Rows removed from the queue before running: their request was aborted (deadline, client gone, another model failed). */
  cancelled: number;
  /** Time inside the worker (padding + onnxruntime), summed over answered batches, and the last batch's. */
  runMs: number;
  answeredBatches: number;
  answeredRows: number;
  last: { rows: number; runMs: number } | null;
}

const noBatchesYet = (): BatcherStats => ({
  realTokens: 0,
  paddedTokens: 0,
  cancelled: 0,
  runMs: 0,
  answeredBatches: 0,
  answeredRows: 0,
  last: null,
});

/** One model's batch limits on each execution provider (the model plan's limitsFor). */
export type LimitsFor = (provider: ExecutionProvider) => BatchLimits;

/**
 * One model's queue: rows from concurrent requests wait here and leave in batches chosen by the
 * batch policy (policy.ts), one batch per free runner (inference worker), each batch sized for the
 * provider its runner is on. Answers each row with its logits.
 */
export class ModelBatcher {
  private readonly queue = new FairQueue();
  private readonly free: BatchRunner[];
  private inFlight = 0;
  private readonly cost = new CostEstimate();
  private readonly wakeup: Wakeup;
  private readonly dispatchListeners: ((rows: number) => void)[] = [];
  private readonly answeredListeners: ((b: AnsweredBatch) => void)[] = [];
  readonly stats = noBatchesYet();

  constructor(
    readonly name: string,
    private readonly runners: BatchRunner[],
    private readonly opts: BatchPolicyOptions,
    private readonly limitsFor: LimitsFor,
    private readonly clock: Clock = systemClock,
  ) {
    this.free = [...runners];
    this.wakeup = new Wakeup(clock, () => this.pump());
    // A runner back from a restart may take the rows that waited for it.
    for (const r of runners) r.onState((state) => state === "up" && this.pump());
  }

  get queued(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.inFlight;
  }

  /** Called each time a batch leaves for a worker (metrics, and tests that need to know a batch is running). */
  onDispatch(fn: (rows: number) => void) {
    this.dispatchListeners.push(fn);
  }

  /** Called each time a batch is answered (metrics). */
  onAnswered(fn: (b: AnsweredBatch) => void) {
    this.answeredListeners.push(fn);
  }

  /**
   * A request's rows enter the queue together, so an idle model runs them as one batch. Each is
   * answered with its logits and where its time went. When `signal` aborts, those of its rows still
   * queued leave the queue unrun, rejected with its reason; rows already running finish.
   */
  submit(rows: RowRef[], signal?: AbortSignal): Promise<RowAnswer>[] {
    if (signal?.aborted) return rows.map(() => Promise.reject(signal.reason));
    const settle: Pick<QueuedEntry, "resolve" | "reject">[] = [];
    const answers = rows.map(() => new Promise<RowAnswer>((resolve, reject) => settle.push({ resolve, reject })));
    const entries = this.queue.add(rows, settle, this.clock.now());
    signal?.addEventListener("abort", () => this.cancel(entries, signal.reason), { once: true });
    this.pump();
    return answers;
  }

  /**
   * How long a request with `tokens` more tokens for this model would wait for its answer, from the
   * measured cost and the work already queued and running (0 until a batch has been measured).
   */
  expectedWaitMs(tokens: number): number {
    return this.cost.waitMs(this.queue.tokens, tokens, this.runners.filter((r) => r.up).length, this.batchTokens());
  }

  /** How long `tokens` take alone on one worker at the measured cost (0 until measured). */
  aloneMs(tokens: number): number {
    return this.cost.aloneMs(tokens, this.batchTokens());
  }

  /** The tokens (as batchCost prices them) a batch may hold on the provider of the first worker up (the cost's batch count). */
  private batchTokens(): number {
    const runner = this.runners.find((r) => r.up) ?? this.runners[0];
    return withinLimits(this.opts, runner && this.limitsFor(runner.provider)).maxBatchTokens;
  }

  private cancel(entries: QueuedEntry[], reason: unknown) {
    const removed = this.queue.cancel(entries, reason);
    this.stats.cancelled += removed;
    if (removed) this.pump();
  }

  /**
   * Batches may leave while a free runner is up. If no runner at all is up, rows are still sent, to a
   * down runner that rejects them at once: callers get 503 now rather than waiting out a restart.
   */
  private usableRunners(): number {
    const up = this.free.filter((r) => r.up).length;
    if (up > 0 || this.runners.some((r) => r.up)) return up;
    return this.free.length;
  }

  /** The runner the next batch goes to: a free one that is up, else (none up at all) the last free one. */
  private nextRunner(): number {
    const up = this.free.findIndex((r) => r.up);
    return up >= 0 ? up : this.free.length - 1;
  }

  private pump() {
    for (;;) {
      // The batch is sized for the runner that will take it: one that fell back to another execution
      // provider (a GPU worker restarted on the CPU) has that provider's limits.
      const runner = this.free[this.nextRunner()];
      const opts = runner ? withinLimits(this.opts, this.limitsFor(runner.provider)) : this.opts;
      const d = decide(this.queue.rows, this.clock.now(), this.inFlight, this.inFlight + this.usableRunners(), opts);
      if (d.kind === "wait") {
        this.wakeup.at(d.wakeAt);
        return;
      }
      this.dispatch(this.queue.take(d.rows), opts.packed ?? false);
    }
  }

  private dispatch(batch: QueuedEntry[], packed: boolean) {
    const runner = this.free.splice(this.nextRunner(), 1)[0];
    this.inFlight++;
    const lengths = batch.map((e) => e.length);
    const realTokens = lengths.reduce((n, l) => n + l, 0);
    const paddedTokens = packed ? realTokens : batchCost(lengths, false);
    // The cost estimate is fitted in the budget's units, attention included when packed.
    const cost = batchCost(lengths, packed);
    this.stats.realTokens += realTokens;
    this.stats.paddedTokens += paddedTokens;
    this.cost.started(cost);
    for (const fn of this.dispatchListeners) fn(batch.length);
    const dispatchedAt = this.clock.now();
    runner
      .run(batch.map((e) => e.row))
      .then(
        ({ logits, numLabels, runMs }) => {
          this.answered({ rows: batch.length, realTokens, paddedTokens, packed, runMs }, cost);
          for (const [i, e] of batch.entries())
            e.resolve({
              logits: logits.subarray(i * numLabels, (i + 1) * numLabels),
              queueMs: dispatchedAt - e.enqueuedAt,
              runMs,
            });
        },
        (err) => {
          for (const e of batch) e.reject(err);
        },
      )
      .finally(() => {
        this.cost.finished(cost);
        this.inFlight--;
        this.free.push(runner);
        this.pump();
      });
  }

  private answered(b: AnsweredBatch, cost: number) {
    this.stats.runMs += b.runMs;
    this.stats.answeredBatches++;
    this.stats.answeredRows += b.rows;
    this.stats.last = { rows: b.rows, runMs: b.runMs };
    this.cost.measured(cost, b.runMs);
    for (const fn of this.answeredListeners) fn(b);
  }
}

/** The batcher's one timer: armed for the oldest row's deadline, moved or cleared as the queue changes. */
class Wakeup {
  private cancel: (() => void) | null = null;
  private armedFor: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  /** Wakes at `when`, or never (null), instead of any time set before. */
  at(when: number | null) {
    if (when === this.armedFor) return;
    this.cancel?.();
    this.cancel = null;
    this.armedFor = when;
    if (when !== null)
      this.cancel = this.clock.at(when, () => {
        this.armedFor = null;
        this.cancel = null;
        this.fn();
      });
  }
}
