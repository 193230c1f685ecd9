import type { ModelBatcher, RowAnswer } from "../batching/batcher.ts";
import type { BatchRunner } from "../batching/runner.ts";
import { BACK_UP_WITHIN_MS, ModelFailed } from "./alone-runs.ts";
import type { RowRef } from "../tokenize/pack.ts";

interface WaitingRow {
  row: RowRef;
  resolve: (answer: RowAnswer) => void;
  reject: (e: unknown) => void;
}

export interface FeederOptions {
  /** Rows kept queued in the batcher, enough for several full batches. */
  depth: number;
  /** Ends the job: rows not yet handed over are rejected with its reason (those in the batcher end when the service stops). */
  signal: AbortSignal;
  /** While true, rows wait here (the model's rows retried after a crash run alone); resume() when it turns false. */
  held?: () => boolean;
  /** How long rows wait here for a runner to be up before they fail with ModelFailed. */
  backUpWithinMs?: number;
}

/**
 * One model's rows for the offline job, handed to its batcher (the service's, with its batch policy
 * and workers) shortest first and a few batches at a time: the batcher picks each batch from what is
 * queued, so rows queued in length order make batches of equal lengths (little padding), and a short
 * queue keeps its choice cheap while the workers never wait for rows.
 */
export class ModelFeeder {
  private readonly waiting: WaitingRow[] = [];
  private failed: ModelFailed | null = null;
  /** Since when no runner has been up, while rows wait; null while one is. */
  private downSince: number | null = null;

  /** `runners`: the batcher's. */
  constructor(
    private readonly batcher: ModelBatcher,
    private readonly runners: readonly BatchRunner[],
    private readonly o: FeederOptions,
  ) {
    // A batch left the queue: refill it, once the batcher is done dispatching.
    batcher.onDispatch(() => queueMicrotask(() => this.resume()));
    // While no runner is up (a worker died and restarts), rows wait here: the batcher would send them to the down worker, which fails them at once.
    for (const r of runners) r.onState((state) => state === "up" && queueMicrotask(() => this.resume()));
    o.signal.addEventListener("abort", () => this.rejectWaiting(o.signal.reason));
  }

  /** Rows still waiting here, not yet in the batcher's queue. */
  get pending(): number {
    return this.waiting.length;
  }

  /** Each row's answer, in the rows' order; the rows go to the batcher shortest first, after those fed before. */
  feed(rows: RowRef[]): Promise<RowAnswer>[] {
    if (this.failed) return rows.map(() => Promise.reject(this.failed));
    const answers: Promise<RowAnswer>[] = new Array(rows.length);
    const byLength = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length || a - b);
    for (const i of byLength)
      answers[i] = new Promise((resolve, reject) => this.waiting.push({ row: rows[i], resolve, reject }));
    this.resume();
    return answers;
  }

  /** The model cannot answer: the rows waiting, and those fed from now on, fail with `e`. */
  fail(e: ModelFailed) {
    this.failed ??= e;
    this.rejectWaiting(e);
  }

  /** Hands rows to the batcher up to `depth`, unless held or no runner is up. */
  resume() {
    const up = this.runners.some((r) => r.up);
    if (up) this.downSince = null;
    if (this.o.signal.aborted || this.failed || this.waiting.length === 0) return;
    if (!up) return this.waitForRunner();
    if (this.o.held?.()) return;
    const room = this.o.depth - this.batcher.queued;
    if (room <= 0) return;
    const next = this.waiting.splice(0, room);
    // No signal: one listener per submission would pile up over a long job; stopping the service ends them.
    const answers = this.batcher.submit(next.map((w) => w.row));
    for (const [i, answer] of answers.entries()) answer.then(next[i].resolve, next[i].reject);
  }

  /** No runner is up: the rows fail once none has been for backUpWithinMs (a worker whose restarts keep failing). */
  private waitForRunner() {
    const within = this.o.backUpWithinMs ?? BACK_UP_WITHIN_MS;
    if (this.downSince !== null) {
      if (performance.now() - this.downSince >= within)
        this.fail(new ModelFailed(`no worker of the model was up for ${within} ms: its rows were not run`));
      return;
    }
    this.downSince = performance.now();
    setTimeout(() => this.resume(), within).unref?.();
  }

  private rejectWaiting(reason: unknown) {
    for (const w of this.waiting.splice(0)) w.reject(reason);
  }
}
