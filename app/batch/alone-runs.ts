/**
 * One model's rows whose batch failed, run again one at a time ("alone") straight on the model's
 * workers (through the batcher they would be batched together again), so that the row to blame is
 * found and set aside and the others are answered.
 */
import type { RowAnswer } from "../batching/batcher.ts";
import type { BatchResult, BatchRunner, RunnerState } from "../batching/runner.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { WorkerCallFailed, WorkerUnavailable } from "../workers/errors.ts";

/** Times a row must take a worker down, alone, to be blamed: once could be the worker's own fault. */
const CRASHES_TO_BLAME = 2;

/** How long the job waits for one of a model's workers to be up again (a full-size model reloads in seconds). */
export const BACK_UP_WITHIN_MS = 120_000;

const POLL_MS = 20;

/** The job cannot use the model (its worker does not come back, or goes down on rows it answered before): its rows fail with it. */
export class ModelFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFailed";
  }
}

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

/** A worker as the retries need it: a runner with a name, a state and its calls (ModelWorker). */
export interface AloneWorker extends BatchRunner {
  readonly name: string;
  readonly state: RunnerState;
  /** Calls it holds: a row runs alone only on a worker that holds none. */
  readonly busy: number;
}

export interface AloneRunsOptions {
  signal: AbortSignal;
  /** The rows retried after crashes are all answered: the model's other rows may go on. */
  onRetriesDone: () => void;
  /** No worker came back up in time, or a row that ran before takes the worker down too: the model is at fault. */
  onModelFailed: (e: ModelFailed) => void;
  backUpWithinMs?: number;
}

export class AloneRuns {
  private next = 0;
  /** Rows retried after crashes, one after another, so that a crash is the running row's alone. */
  private crashRetries: Promise<unknown> = Promise.resolve();
  private crashRetriesLeft = 0;
  /** A row this model answered: run alone again after a row is blamed, it tells a bad row from a bad model. */
  private answeredRow: RowRef | null = null;
  private modelFailed: ModelFailed | null = null;

  constructor(
    private readonly workers: readonly AloneWorker[],
    private readonly o: AloneRunsOptions,
  ) {}

  /** Rows are being retried after a crash: the model's other rows wait, so that nothing runs beside them. */
  get retryingAfterCrash(): boolean {
    return this.crashRetriesLeft > 0;
  }

  /** A row the model answered (the latest one is kept). */
  answered(row: RowRef) {
    this.answeredRow = row;
  }

  /** The row alone after its batch's run failed with an error and the worker kept running: on the next worker up. */
  async afterError(row: RowRef): Promise<RowAnswer | RowFailure> {
    const up = this.workers.filter((w) => w.up);
    if (up.length === 0) return this.afterCrash(row);
    try {
      return answerOf(await up[this.next++ % up.length].run([row]));
    } catch (e) {
      if (this.o.signal.aborted) throw e;
      if (e instanceof WorkerUnavailable) return this.afterCrash(row);
      if (!(e instanceof WorkerCallFailed)) throw e;
      return { failed: e };
    }
  }

  /**
   * The row alone after its worker died holding its batch: one row at a time, each on a worker that is
   * up and holds nothing else. A row that takes a worker down alone twice is to blame and set aside,
   * unless a row the model answered before then takes it down too: then the model is at fault, and
   * this answer and every later one throw (the job stops; a resume redoes the chunk).
   */
  afterCrash(row: RowRef): Promise<RowAnswer | RowFailure> {
    this.crashRetriesLeft++;
    const ran = this.crashRetries
      .then(() => this.retryAfterCrash(row))
      .finally(() => {
        if (--this.crashRetriesLeft === 0) this.o.onRetriesDone();
      });
    this.crashRetries = ran.catch(() => {});
    return ran;
  }

  private async retryAfterCrash(row: RowRef): Promise<RowAnswer | RowFailure> {
    const crashes: WorkerUnavailable[] = [];
    while (crashes.length < CRASHES_TO_BLAME) {
      const ran = await this.runAlone(row);
      if (!(ran instanceof WorkerUnavailable)) return ran;
      crashes.push(ran);
    }
    const why = crashes.map((c) => c.message).join("; ");
    const good = this.answeredRow;
    if (good && (await this.runAlone(good)) instanceof WorkerUnavailable)
      this.failModel(
        `${crashes[0].worker} goes down on a row it answered before too, run alone: the model is at fault, not the rows (${why})`,
      );
    return {
      failed: new WorkerUnavailable(
        crashes[0].worker,
        `it took the model's worker down ${CRASHES_TO_BLAME} times, run alone (${why})`,
      ),
    };
  }

  /** The row's answer or failure alone, or the crash (WorkerUnavailable) it was held in; throws once the model has failed. */
  private async runAlone(row: RowRef): Promise<RowAnswer | RowFailure | WorkerUnavailable> {
    const worker = await this.idleWorker();
    try {
      const answer = answerOf(await worker.run([row]));
      this.answeredRow = row;
      return answer;
    } catch (e) {
      if (this.o.signal.aborted) throw e;
      if (e instanceof WorkerCallFailed) return { failed: e };
      if (!(e instanceof WorkerUnavailable)) throw e;
      return e;
    }
  }

  /**
   * A worker of the model that is up and holds no call, once one does; throws when the job stops, the
   * model has failed, or none has been up for backUpWithinMs.
   */
  private async idleWorker(): Promise<AloneWorker> {
    const within = this.o.backUpWithinMs ?? BACK_UP_WITHIN_MS;
    let deadline = performance.now() + within;
    for (;;) {
      if (this.o.signal.aborted) throw this.o.signal.reason;
      if (this.modelFailed) throw this.modelFailed;
      const idle = this.workers.find((w) => w.up && w.busy === 0);
      if (idle) return idle;
      // Up but busy (a batch sent before the retries began): the wait is for it to finish, not for a restart.
      if (this.workers.some((w) => w.up)) deadline = performance.now() + within;
      if (this.workers.every((w) => w.state === "stopped") || performance.now() > deadline)
        this.failModel(
          `no worker of the model was up again within ${within} ms (${this.workers.map((w) => `${w.name} ${w.state}`).join(", ")})`,
        );
      await Bun.sleep(POLL_MS);
    }
  }

  /** The model is at fault: this call and every later one throw, and the rows still waiting for the model fail. */
  private failModel(why: string): never {
    this.modelFailed ??= new ModelFailed(why);
    this.o.onModelFailed(this.modelFailed);
    throw this.modelFailed;
  }
}
