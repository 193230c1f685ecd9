/**
 * What a supervised worker's caller can be told, in the worker layer's own words. The service's
 * error table (app/errors.ts, toApiError) decides what a client sees for each, by the worker's role.
 */

/** What a worker does; the same failure means different things to a client depending on it. */
export type WorkerRole = "inference" | "tokenizer";

/** The worker is starting, restarting or stopped, or died while it held the call. */
export class WorkerUnavailable extends Error {
  constructor(
    readonly role: WorkerRole,
    readonly worker: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerUnavailable";
  }
}

/** The worker is up and answered the call with an error (it keeps running). */
export class WorkerCallFailed extends Error {
  constructor(
    readonly role: WorkerRole,
    readonly worker: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerCallFailed";
  }
}
