/**
 * The message protocol every supervised worker speaks: one init, then calls answered by id.
 * Fault hooks exist for tests only: the worker honours `fault` only when its init says
 * `faultHooks: true`, which only tests pass (the service's production entry never does).
 */
export type Fault = "exit" | "throw" | "hold";

export type ToWorker<Init, Body> =
  | { type: "init"; init: Init; faultHooks: boolean }
  | { type: "call"; id: number; body: Body; fault?: Fault }
  | { type: "release" };

export type FromWorker<Ready, Reply> =
  | { type: "ready"; info: Ready }
  | { type: "init-failed"; message: string }
  | { type: "reply"; id: number; value: Reply }
  | { type: "failed"; id: number; message: string }
  | { type: "holding"; id: number };
