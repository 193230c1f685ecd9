/**
 * One model's rows whose batch failed, run again one at a time ("alone") straight on the model's
 * workers (through the batcher they would be batched together again), so that the row to blame is
 * found and set aside and the others are answered.
 */
import type { RowAnswer } from "../batching/batcher.ts";
import type { BatchResult, BatchRunner } from "../batching/runner.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { WorkerCallFailed, WorkerUnavailable } from "../workers/errors.ts";

/** Times a row must take a worker down, alone, to be blamed: once could be the worker's own fault. */
const CRASHES_TO_BLAME = 2;

/** How long a row waits for one of the model's workers to be up again after a crash (a full-size model reloads in seconds). */
const BACK_UP_WITHIN_MS = 120_000;

const POLL_MS = 20;

/** A row a model's run failed on, alone (not only in a batch with others). */
export interface RowFailure {
  failed: WorkerCallFailed | WorkerUnavailable;
}

export const isFailure = (a: RowAnswer | RowFailure): a is RowFailure => "failed" in a;

const answerOf = ({ logits, numLabels, runMs }: BatchResult): RowAnswer => ({
  logits: logits.subarray(0, numLabels),
  queueMs: 0,
  runMs,
});

/** A worker as the retries need it: a runner with a name and a state (ModelWorker). */
export interface AloneWorker extends BatchRunner {
  readonly name: string;
  readonly state: string;
}

export class AloneRuns {
  private next = 0;
  /** Rows run one after another after a crash, so that a crash is the running row's alone. */
  private afterCrashes: Promise<unknown> = Promise.resolve();
  /** Rows waiting or running after a crash: the chain ends when it is back to 0. */
  private afterCrashRows = 0;
  /** Rows blamed for crashes since a row last ran (in this chain); two in a row blame the model instead. */
  private blamedInARow = 0;
  private modelBroken: WorkerUnavailable | null = null;

  constructor(
    private readonly workers: readonly AloneWorker[],
    private readonly signal: AbortSignal,
    private readonly backUpWithinMs = BACK_UP_WITHIN_MS,
  ) {}

  /** The row alone after its batch's run failed with an error and the worker kept running: on the next worker up. */
  async afterError(row: RowRef): Promise<RowAnswer | RowFailure> {
    const up = this.workers.filter((w) => w.up);
    const worker = up[this.next++ % Math.max(1, up.length)] ?? this.workers[0];
    try {
      return answerOf(await worker.run([row]));
    } catch (e) {
      if (!(e instanceof WorkerCallFailed) || this.signal.aborted) throw e;
      return { failed: e };
    }
  }

  /**
   * The row alone after its worker died holding its batch (or was down when the batch was sent): one
   * row at a time, each once a worker is up again. A row that takes a worker down alone twice is to
   * blame, and set aside; if the next row is blamed too before any row has run, the fault is the
   * model's: this row's answer and every later one's throw (the job stops; a resume redoes the chunk).
   */
  afterCrash(row: RowRef): Promise<RowAnswer | RowFailure> {
    this.afterCrashRows++;
    const ran = this.afterCrashes
      .then(() => this.untilBlamed(row))
      .finally(() => {
        if (--this.afterCrashRows === 0) this.blamedInARow = 0;
      });
    this.afterCrashes = ran.catch(() => {});
    return ran;
  }

  private async untilBlamed(row: RowRef): Promise<RowAnswer | RowFailure> {
    const crashes: WorkerUnavailable[] = [];
    while (crashes.length < CRASHES_TO_BLAME) {
      if (this.modelBroken) throw this.modelBroken;
      const worker = await this.upWorker();
      try {
        const answer = answerOf(await worker.run([row]));
        this.blamedInARow = 0;
        return answer;
      } catch (e) {
        if (this.signal.aborted) throw e;
        if (e instanceof WorkerCallFailed) return { failed: e };
        if (!(e instanceof WorkerUnavailable)) throw e;
        crashes.push(e);
      }
    }
    const why = crashes.map((c) => c.message).join("; ");
    const worker = crashes[0].worker;
    if (++this.blamedInARow < 2)
      return {
        failed: new WorkerUnavailable(
          worker,
          `it took the model's worker down ${CRASHES_TO_BLAME} times, run alone (${why})`,
        ),
      };
    this.modelBroken = new WorkerUnavailable(
      worker,
      `the model's worker went down on each of two rows in a row, run alone: the model is at fault, not the rows (${why})`,
    );
    throw this.modelBroken;
  }

  /** A worker of the model that is up, once one is: throws when the job stops or none is back within backUpWithinMs. */
  private async upWorker(): Promise<AloneWorker> {
    const deadline = performance.now() + this.backUpWithinMs;
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      const up = this.workers.find((w) => w.up);
      if (up) return up;
      if (this.workers.every((w) => w.state === "stopped") || performance.now() > deadline)
        throw new WorkerUnavailable(
          this.workers[0].name,
          `no worker of the model was up again within ${this.backUpWithinMs} ms (${this.workers.map((w) => `${w.name} ${w.state}`).join(", ")})`,
        );
      await Bun.sleep(POLL_MS);
    }
  }
}
