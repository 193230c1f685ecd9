import type { RowRef } from "../tokenize/pack.ts";
import type { QueuedRow } from "./policy.ts";

/** A row's answer: its logits, how long it waited in the queue, and how long its batch ran. */
export interface RowAnswer {
  logits: Float32Array;
  queueMs: number;
  runMs: number;
}

/** A row waiting for its batch, with the request's promise to answer. */
export interface QueuedEntry extends QueuedRow {
  /**
   * Fair order: a request's k-th row is due when k more rows have been taken since it arrived
   * (start-time fair queuing, one share per request). A large array then alternates with the small
   * requests behind it instead of running whole ahead of them, and is never starved by them.
   */
  due: number;
  row: RowRef;
  resolve: (answer: RowAnswer) => void;
  reject: (e: unknown) => void;
}

/** One model's waiting rows, in fair order, and the tokens they hold (the work ahead of a new row). */
export class FairQueue {
  private readonly entries: QueuedEntry[] = [];
  /** Rows taken so far: the fair-queuing clock. */
  private takenRows = 0;
  /** Tokens of the rows queued. */
  tokens = 0;

  get length(): number {
    return this.entries.length;
  }

  /** The queue in order, as the batch policy reads it. */
  get rows(): readonly QueuedEntry[] {
    return this.entries;
  }

  /** A request's rows (each with how to answer it), due one per row taken from now. */
  add(rows: RowRef[], answers: Pick<QueuedEntry, "resolve" | "reject">[], enqueuedAt: number): QueuedEntry[] {
    const due = this.takenRows;
    return rows.map((row, k) => {
      const e = { due: due + k, row, enqueuedAt, length: row.length, ...answers[k] };
      this.insert(e);
      return e;
    });
  }

  /** Inserts by `due`, after the rows already due at the same point (arrival order among equals). */
  private insert(e: QueuedEntry) {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].due <= e.due) lo = mid + 1;
      else hi = mid;
    }
    this.entries.splice(lo, 0, e);
    this.tokens += e.length;
  }

  /** Takes the rows at these queue indices (a batch), in the order given. */
  take(indices: number[]): QueuedEntry[] {
    const batch = indices.map((i) => this.entries[i]);
    const taken = new Set(indices);
    for (let i = this.entries.length - 1; i >= 0; i--) if (taken.has(i)) this.entries.splice(i, 1);
    for (const e of batch) this.tokens -= e.length;
    this.takenRows += batch.length;
    return batch;
  }

  /** Removes those of `entries` still queued, rejecting each with `reason`; returns how many. */
  cancel(entries: QueuedEntry[], reason: unknown): number {
    const gone = new Set(entries);
    let removed = 0;
    for (let i = this.entries.length - 1; i >= 0; i--)
      if (gone.has(this.entries[i])) {
        this.tokens -= this.entries[i].length;
        this.entries[i].reject(reason);
        this.entries.splice(i, 1);
        removed++;
      }
    return removed;
  }
}
