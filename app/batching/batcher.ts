import type { BatchRunner } from "../inference/model-worker.ts";
import type { RowRef } from "../inference/protocol.ts";
import { decide, type BatchPolicyOptions } from "./policy.ts";

/** Time, injectable so the batcher's waits are tested without sleeping. */
export interface Clock {
  now(): number;
  /** Calls fn at (or after) time `at`; returns a cancel function. */
  at(at: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  at: (at, fn) => {
    const t = setTimeout(fn, Math.max(0, at - performance.now()));
    return () => clearTimeout(t);
  },
};

/** Where a request's time went in one model: the longest queue wait and run among its rows. */
export interface RowTiming {
  queueMs: number;
  runMs: number;
}

interface Entry {
  row: RowRef;
  signal?: AbortSignal;
  timing?: RowTiming;
  enqueuedAt: number;
  length: number;
  resolve: (logits: Float32Array) => void;
  reject: (e: unknown) => void;
}

export interface AnsweredBatch {
  rows: number;
  realTokens: number;
  paddedTokens: number;
  runMs: number;
}

export interface BatcherStats {
  batches: number;
  rows: number;
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

/**
 * One model's queue: rows from concurrent requests wait here and leave in batches chosen by the
 * batch policy, one batch per free runner (inference worker). Answers each row with its logits.
 */
export class ModelBatcher {
  private readonly queue: Entry[] = [];
  private readonly free: BatchRunner[];
  private inFlight = 0;
  private cancelTimer: (() => void) | null = null;
  private timerAt: number | null = null;
  readonly stats: BatcherStats = {
    batches: 0,
    rows: 0,
    realTokens: 0,
    paddedTokens: 0,
    cancelled: 0,
    runMs: 0,
    answeredBatches: 0,
    answeredRows: 0,
    last: null,
  };

  constructor(
    readonly name: string,
    private readonly runners: BatchRunner[],
    private readonly opts: BatchPolicyOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.free = [...runners];
    // A runner back from a restart may take the rows that waited for it.
    for (const r of runners) r.on?.((e) => e.type === "state" && e.state === "up" && this.pump());
  }

  private readonly dispatchListeners: ((rows: number) => void)[] = [];

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

  private readonly answeredListeners: ((b: AnsweredBatch) => void)[] = [];

  /** Called each time a batch is answered (metrics). */
  onAnswered(fn: (b: AnsweredBatch) => void) {
    this.answeredListeners.push(fn);
  }

  submit(row: RowRef, signal?: AbortSignal): Promise<Float32Array> {
    return this.submitMany([row], signal)[0];
  }

  /**
   * A request's rows enter the queue together, so an idle model runs them as one batch. When
   * `signal` aborts, those of its rows still queued leave the queue unrun, rejected with its reason;
   * rows already running finish.
   */
  submitMany(rows: RowRef[], signal?: AbortSignal, timing?: RowTiming): Promise<Float32Array>[] {
    if (signal?.aborted) return rows.map(() => Promise.reject(signal.reason));
    const now = this.clock.now();
    const entries: Entry[] = [];
    const answers = rows.map(
      (row) =>
        new Promise<Float32Array>((resolve, reject) => {
          const e = { row, signal, timing, enqueuedAt: now, length: row.length, resolve, reject };
          entries.push(e);
          this.queue.push(e);
        }),
    );
    signal?.addEventListener("abort", () => this.cancel(entries, signal.reason), { once: true });
    this.pump();
    return answers;
  }

  private cancel(entries: Entry[], reason: unknown) {
    const gone = new Set(entries);
    let removed = 0;
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (gone.has(this.queue[i])) {
        this.queue[i].reject(reason);
        this.queue.splice(i, 1);
        removed++;
      }
    this.stats.cancelled += removed;
    if (removed) this.pump();
  }

  /**
   * Batches may leave while a free runner is up. If no runner at all is up, rows are still sent, to a
   * down runner that rejects them at once: callers get 503 now rather than waiting out a restart.
   */
  private usableRunners(): number {
    const up = this.free.filter((r) => r.up !== false).length;
    if (up > 0 || this.runners.some((r) => r.up !== false)) return up;
    return this.free.length;
  }

  /** The runner the next batch goes to: a free one that is up, else (none up at all) the last free one. */
  private nextRunner(): number {
    const up = this.free.findIndex((r) => r.up !== false);
    return up >= 0 ? up : this.free.length - 1;
  }

  private pump() {
    for (;;) {
      // The batch is sized for the runner that will take it: one that fell back to another execution
      // provider (a GPU worker restarted on the CPU) has that provider's cap.
      const cap = this.free[this.nextRunner()]?.maxBatchSize ?? Infinity;
      const opts = cap < this.opts.maxBatchSize ? { ...this.opts, maxBatchSize: cap } : this.opts;
      const d = decide(this.queue, this.clock.now(), this.inFlight, this.inFlight + this.usableRunners(), opts);
      if (d.kind === "wait") {
        this.armTimer(d.wakeAt);
        return;
      }
      const taken = new Set(d.rows);
      const batch = d.rows.map((i) => this.queue[i]);
      for (let i = this.queue.length - 1; i >= 0; i--) if (taken.has(i)) this.queue.splice(i, 1);
      this.dispatch(batch);
    }
  }

  private armTimer(wakeAt: number | null) {
    if (wakeAt === this.timerAt) return;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerAt = wakeAt;
    if (wakeAt !== null)
      this.cancelTimer = this.clock.at(wakeAt, () => {
        this.timerAt = null;
        this.cancelTimer = null;
        this.pump();
      });
  }

  private dispatch(batch: Entry[]) {
    const runner = this.free.splice(this.nextRunner(), 1)[0];
    this.inFlight++;
    const longest = Math.max(...batch.map((e) => e.length));
    const realTokens = batch.reduce((n, e) => n + e.length, 0);
    this.stats.batches++;
    this.stats.rows += batch.length;
    this.stats.realTokens += realTokens;
    this.stats.paddedTokens += longest * batch.length;
    for (const fn of this.dispatchListeners) fn(batch.length);
    const dispatchedAt = this.clock.now();
    for (const e of batch) if (e.timing) e.timing.queueMs = Math.max(e.timing.queueMs, dispatchedAt - e.enqueuedAt);
    runner
      .run(batch.map((e) => e.row))
      .then(
        ({ logits, numLabels, runMs }) => {
          this.stats.runMs += runMs;
          this.stats.answeredBatches++;
          this.stats.answeredRows += batch.length;
          this.stats.last = { rows: batch.length, runMs };
          for (const e of batch) if (e.timing) e.timing.runMs = Math.max(e.timing.runMs, runMs);
          for (const fn of this.answeredListeners)
            fn({ rows: batch.length, realTokens, paddedTokens: longest * batch.length, runMs });
          batch.forEach((e, i) => e.resolve(logits.subarray(i * numLabels, (i + 1) * numLabels)));
        },
        (err) => batch.forEach((e) => e.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        this.free.push(runner);
        this.pump();
      });
  }
}
