import type { BatchRunner } from "../inference/model-worker.ts";
import type { RowRef } from "../inference/protocol.ts";
import { decide, type BatchPolicyOptions, withinLimits } from "./policy.ts";

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
  /**
   * Fair order: a request's k-th row is due when k more rows have been dispatched since it arrived
   * (start-time fair queuing, one share per request). A large array then alternates with the small
   * requests behind it instead of running whole ahead of them, and is never starved by them.
   */
  due: number;
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
  /** Rows dispatched so far: the fair-queuing clock. */
  private dispatchedRows = 0;
  /** Tokens of the rows queued, and of the batches running (padded): the work ahead of a new row. */
  private queuedTokens = 0;
  private runningTokens = 0;
  /** Measured inference cost, ms per padded token (a moving average over answered batches); null until one is answered. */
  private msPerToken: number | null = null;
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
      (row, k) =>
        new Promise<Float32Array>((resolve, reject) => {
          const e = {
            due: this.dispatchedRows + k,
            row,
            signal,
            timing,
            enqueuedAt: now,
            length: row.length,
            resolve,
            reject,
          };
          entries.push(e);
          this.enqueue(e);
        }),
    );
    signal?.addEventListener("abort", () => this.cancel(entries, signal.reason), { once: true });
    this.pump();
    return answers;
  }

  /** Inserts by `due`, after the rows already due at the same point (arrival order among equals). */
  private enqueue(e: Entry) {
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.queue[mid].due <= e.due) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, e);
    this.queuedTokens += e.length;
  }

  /**
   * How long a request with `tokens` more tokens for this model would wait for its answer, from the
   * measured cost and the work already queued and running (0 until a batch has been measured).
   */
  expectedWaitMs(tokens: number): number {
    if (this.msPerToken === null) return 0;
    const runners = Math.max(1, this.runners.filter((r) => r.up !== false).length);
    return ((this.queuedTokens + this.runningTokens / 2 + tokens) * this.msPerToken) / runners;
  }

  /** How long `tokens` take alone on one worker at the measured cost (0 until measured). */
  aloneMs(tokens: number): number {
    return (this.msPerToken ?? 0) * tokens;
  }

  private cancel(entries: Entry[], reason: unknown) {
    const gone = new Set(entries);
    let removed = 0;
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (gone.has(this.queue[i])) {
        this.queuedTokens -= this.queue[i].length;
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
      // provider (a GPU worker restarted on the CPU) has that provider's limits.
      const opts = withinLimits(this.opts, this.free[this.nextRunner()]?.batchLimits);
      const d = decide(this.queue, this.clock.now(), this.inFlight, this.inFlight + this.usableRunners(), opts);
      if (d.kind === "wait") {
        this.armTimer(d.wakeAt);
        return;
      }
      const taken = new Set(d.rows);
      const batch = d.rows.map((i) => this.queue[i]);
      for (let i = this.queue.length - 1; i >= 0; i--) if (taken.has(i)) this.queue.splice(i, 1);
      for (const e of batch) this.queuedTokens -= e.length;
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
    this.dispatchedRows += batch.length;
    const padded = longest * batch.length;
    this.runningTokens += padded;
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
          const cost = runMs / padded;
          this.msPerToken = this.msPerToken === null ? cost : 0.8 * this.msPerToken + 0.2 * cost;
          for (const e of batch) if (e.timing) e.timing.runMs = Math.max(e.timing.runMs, runMs);
          for (const fn of this.answeredListeners)
            fn({ rows: batch.length, realTokens, paddedTokens: longest * batch.length, runMs });
          batch.forEach((e, i) => e.resolve(logits.subarray(i * numLabels, (i + 1) * numLabels)));
        },
        (err) => batch.forEach((e) => e.reject(err)),
      )
      .finally(() => {
        this.runningTokens -= padded;
        this.inFlight--;
        this.free.push(runner);
        this.pump();
      });
  }
}
