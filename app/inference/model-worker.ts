import type { BatchLimits } from "../batching/policy.ts";
import type { ExecutionProvider } from "../config.ts";
import type { RestartPolicy } from "../workers/restart-policy.ts";
import { SupervisedWorker } from "../workers/supervised-worker.ts";
import type { BatchResult, LoadOptions, ModelReady, RowRef } from "./protocol.ts";

export type { BatchResult, LoadOptions } from "./protocol.ts";

/** Runs batches for one model; the batcher only sees this. */
export interface BatchRunner {
  run(rows: RowRef[]): Promise<BatchResult>;
  /** False while the runner is restarting: the batcher prefers runners that are up. */
  readonly up?: boolean;
  /** Called when the runner comes back up, so queued rows are sent. */
  on?(fn: (e: { type: string; state?: string }) => void): void;
  /** The most rows and padded tokens this runner takes in one batch (within the model's), if it has limits of its own. */
  readonly batchLimits?: BatchLimits;
}

/** One inference worker (a Bun Worker owning one onnxruntime session), supervised and restarted on death. */
export class ModelWorker
  extends SupervisedWorker<LoadOptions, RowRef[], ModelReady, BatchResult>
  implements BatchRunner
{
  constructor(
    name: string,
    private readonly load: LoadOptions,
    opts: {
      policy?: RestartPolicy;
      faultHooks?: boolean;
      batchLimits?: (provider: ExecutionProvider) => BatchLimits;
    } = {},
  ) {
    super({
      name,
      entry: new URL("./worker.ts", import.meta.url),
      init: load,
      policy: opts.policy,
      faultHooks: opts.faultHooks,
    });
    this.limitsFor = opts.batchLimits;
  }

  private readonly limitsFor?: (provider: ExecutionProvider) => BatchLimits;

  /** The execution provider the worker runs on now: it may change when a restart falls back to the next candidate. */
  get provider(): ExecutionProvider | null {
    return this.info?.provider ?? null;
  }

  /** The providers it tries, in order. */
  get candidates(): ExecutionProvider[] {
    return this.load.candidates.map((c) => c.provider);
  }

  get batchLimits(): BatchLimits | undefined {
    return this.limitsFor?.(this.provider ?? this.candidates[0]);
  }

  run(rows: RowRef[]): Promise<BatchResult> {
    return this.call(rows);
  }
}
