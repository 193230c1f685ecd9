/**
 * What a supervised worker's caller can be told, in the worker layer's own words. The service's
 * error table (app/errors.ts, toApiError) decides what a client sees for each.
 */

/** The worker is starting, restarting or stopped, or died while it held the call (`held`). */
export class WorkerUnavailable extends Error {
  constructor(
    readonly worker: string,
    message: string,
    /** The worker had the call when it died or was stopped: what it was running may be what killed it. */
    readonly held = false,
  ) {
    super(message);
    this.name = "WorkerUnavailable";
  }
}

/** The worker is up and answered the call with an error (it keeps running). */
export class WorkerCallFailed extends Error {
  constructor(
    readonly worker: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerCallFailed";
  }
}
