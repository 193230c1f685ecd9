import type { HarnessEntry } from "../app/inference/model-worker.ts";
import type { ModelRecord } from "../lib/store/index.ts";

/** What testkit/gpu-stand-in-worker.ts is started with: the model's loads left on the GPU it stands in for. */
export interface GpuStandInHarness {
  /** Int32 [loads left], shared by the model's workers and kept across their restarts. */
  loadsLeft: SharedArrayBuffer;
}

/**
 * A start's `workerEntry` seam for a machine without a GPU: each model's GPU candidates load on the
 * CPU for `loads` loads (its workers' first starts and restarts together), then fail, as a GPU that
 * works at the first start and is gone at a restart. The served answers are the CPU's.
 */
export function gpuStandIn(loads: number): (model: ModelRecord) => HarnessEntry {
  return () => {
    const loadsLeft = new SharedArrayBuffer(4);
    new Int32Array(loadsLeft)[0] = loads;
    const harness: GpuStandInHarness = { loadsLeft };
    return { url: new URL("./gpu-stand-in-worker.ts", import.meta.url), harness };
  };
}
