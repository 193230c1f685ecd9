import type { BatchRunner, RunnerState } from "../batching/runner.ts";
import type { ExecutionProvider } from "../config.ts";
import type { RestartPolicy } from "../workers/restart-policy.ts";
import { SupervisedWorker } from "../workers/supervised-worker.ts";
import type { BatchResult, LoadOptions, ModelReady, RowRef } from "./protocol.ts";

export type { BatchResult, LoadOptions } from "./protocol.ts";

/**
 * A harness's own worker entry file instead of app/inference/worker.ts, and what it is started with
 * (tests and bench/sim: e.g. testkit/gpu-stand-in-worker.ts). Never set in production.
 */
export interface HarnessEntry {
  url: URL;
  harness?: unknown;
}

/** One inference worker (a Bun Worker owning one onnxruntime session), supervised and restarted on death. */
export class ModelWorker
  extends SupervisedWorker<LoadOptions, RowRef[], ModelReady, BatchResult>
  implements BatchRunner
{
  constructor(
    name: string,
    private readonly load: LoadOptions,
    opts: { policy?: RestartPolicy; faultHooks?: boolean; entry?: HarnessEntry } = {},
  ) {
    super({
      name,
      entry: opts.entry?.url ?? new URL("./worker.ts", import.meta.url),
      init: load,
      policy: opts.policy,
      faultHooks: opts.faultHooks,
      harness: opts.entry?.harness,
    });
  }

  /**
   * The execution provider the worker runs on now: it may change when a restart falls back to the
   * next candidate. Before its first start, the first candidate (the one it tries first).
   */
  get provider(): ExecutionProvider {
    return this.info?.provider ?? this.load.candidates[0].provider;
  }

  /** The providers it tries, in order. */
  get candidates(): ExecutionProvider[] {
    return this.load.candidates.map((c) => c.provider);
  }

  onState(fn: (state: RunnerState) => void) {
    this.on((e) => {
      if (e.type === "state") fn(e.state);
    });
  }

  run(rows: RowRef[]): Promise<BatchResult> {
    return this.call(rows);
  }
}
