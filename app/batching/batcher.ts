import type { BatchRunner } from "../inference/model-worker.ts";
import type { RowRef } from "../inference/protocol.ts";
import { decide, type BatchPolicyOptions, type SendReason } from "./policy.ts";

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

interface Entry {
  row: RowRef;
  enqueuedAt: number;
  length: number;
  resolve: (logits: Float32Array) => void;
  reject: (e: unknown) => void;
}

export interface BatcherStats {
  batches: number;
  rows: number;
  realTokens: number;
  paddedTokens: number;
  reasons: Record<SendReason, number>;
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
  readonly stats: BatcherStats = { batches: 0, rows: 0, realTokens: 0, paddedTokens: 0, reasons: { idle: 0, full: 0, tokens: 0, delay: 0 } };

  constructor(
    readonly name: string,
    private readonly runners: BatchRunner[],
    private readonly opts: BatchPolicyOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.free = [...runners];
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

  submit(row: RowRef): Promise<Float32Array> {
    return this.submitMany([row])[0];
  }

  /** A request's rows enter the queue together, so an idle model runs them as one batch. */
  submitMany(rows: RowRef[]): Promise<Float32Array>[] {
    const now = this.clock.now();
    const answers = rows.map((row) => new Promise<Float32Array>((resolve, reject) => this.queue.push({ row, enqueuedAt: now, length: row.length, resolve, reject })));
    this.pump();
    return answers;
  }

  private pump() {
    for (;;) {
      const d = decide(this.queue, this.clock.now(), this.inFlight, this.runners.length, this.opts);
      if (d.kind === "wait") {
        this.armTimer(d.wakeAt);
        return;
      }
      const taken = new Set(d.rows);
      const batch = d.rows.map((i) => this.queue[i]);
      for (let i = this.queue.length - 1; i >= 0; i--) if (taken.has(i)) this.queue.splice(i, 1);
      this.stats.reasons[d.reason]++;
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
    const runner = this.free.pop()!;
    this.inFlight++;
    const longest = Math.max(...batch.map((e) => e.length));
    this.stats.batches++;
    this.stats.rows += batch.length;
    this.stats.realTokens += batch.reduce((n, e) => n + e.length, 0);
    this.stats.paddedTokens += longest * batch.length;
    for (const fn of this.dispatchListeners) fn(batch.length);
    runner
      .run(batch.map((e) => e.row))
      .then(
        ({ logits, numLabels }) => batch.forEach((e, i) => e.resolve(logits.subarray(i * numLabels, (i + 1) * numLabels))),
        (err) => batch.forEach((e) => e.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        this.free.push(runner);
        this.pump();
      });
  }
}
