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
}

/** One inference worker (a Bun Worker owning one onnxruntime session), supervised and restarted on death. */
export class ModelWorker extends SupervisedWorker<LoadOptions, RowRef[], ModelReady, BatchResult> implements BatchRunner {
  constructor(name: string, load: LoadOptions, opts: { policy?: RestartPolicy; faultHooks?: boolean } = {}) {
    super({ name, entry: new URL("./worker.ts", import.meta.url), init: load, codes: { unavailable: "inference_unavailable", failed: "inference_failed" }, ...opts });
  }

  run(rows: RowRef[]): Promise<BatchResult> {
    return this.call(rows);
  }
}
