/**
 * The message protocol every supervised worker speaks: one init, then calls answered by id.
 * Fault hooks exist for tests only: the worker honours `fault` only when it was started with
 * `faultHooks: true` (WorkerStartData), which only tests pass (the service's production entry never does).
 */
export type Fault = "exit" | "throw" | "hold";

/**
 * What a worker is started with besides its init message (the Worker's `workerData`): test and
 * harness seams only, so the init message carries what production needs and nothing else.
 */
export interface WorkerStartData {
  faultHooks: boolean;
  /** For a harness's own entry file (e.g. testkit/gpu-stand-in-worker.ts); production entries ignore it. */
  harness?: unknown;
}

export type ToWorker<Init, Body> =
  | { type: "init"; init: Init }
  | { type: "call"; id: number; body: Body; fault?: Fault }
  | { type: "release" };

export type FromWorker<Ready, Reply> =
  | { type: "ready"; info: Ready }
  | { type: "init-failed"; message: string }
  | { type: "reply"; id: number; value: Reply }
  | { type: "failed"; id: number; message: string }
  | { type: "holding"; id: number };
