import type { ModelBatcher, RowAnswer } from "../batching/batcher.ts";
import type { BatchRunner } from "../batching/runner.ts";
import type { RowRef } from "../tokenize/pack.ts";

interface WaitingRow {
  row: RowRef;
  resolve: (answer: RowAnswer) => void;
  reject: (e: unknown) => void;
}

/**
 * One model's rows for the offline job, handed to its batcher (the service's, with its batch policy
 * and workers) shortest first and a few batches at a time: the batcher picks each batch from what is
 * queued, so rows queued in length order make batches of equal lengths (little padding), and a short
 * queue keeps its choice cheap while the workers never wait for rows.
 */
export class ModelFeeder {
  private readonly waiting: WaitingRow[] = [];

  /**
   * `runners`: the batcher's. `depth`: rows kept queued in the batcher, enough for several full
   * batches. `signal` ends the job: rows not yet handed over are rejected with its reason (those in
   * the batcher end when the service stops).
   */
  constructor(
    private readonly batcher: ModelBatcher,
    private readonly runners: readonly BatchRunner[],
    private readonly depth: number,
    private readonly signal: AbortSignal,
  ) {
    // A batch left the queue: refill it, once the batcher is done dispatching.
    batcher.onDispatch(() => queueMicrotask(() => this.topUp()));
    // While no runner is up (a worker died and restarts), rows wait here: the batcher would send them to the down worker, which fails them at once.
    for (const r of runners) r.onState((state) => state === "up" && queueMicrotask(() => this.topUp()));
    signal.addEventListener("abort", () => {
      for (const w of this.waiting.splice(0)) w.reject(signal.reason);
    });
  }

  /** Rows still waiting here, not yet in the batcher's queue. */
  get pending(): number {
    return this.waiting.length;
  }

  /** Each row's answer, in the rows' order; the rows go to the batcher shortest first, after those fed before. */
  feed(rows: RowRef[]): Promise<RowAnswer>[] {
    const answers: Promise<RowAnswer>[] = new Array(rows.length);
    const byLength = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length || a - b);
    for (const i of byLength)
      answers[i] = new Promise((resolve, reject) => this.waiting.push({ row: rows[i], resolve, reject }));
    this.topUp();
    return answers;
  }

  private topUp() {
    if (this.signal.aborted || !this.runners.some((r) => r.up)) return;
    const room = this.depth - this.batcher.queued;
    if (room <= 0 || this.waiting.length === 0) return;
    const next = this.waiting.splice(0, room);
    // No signal: one listener per submission would pile up over a long job; stopping the service ends them.
    const answers = this.batcher.submit(next.map((w) => w.row));
    for (const [i, answer] of answers.entries()) answer.then(next[i].resolve, next[i].reject);
  }
}
