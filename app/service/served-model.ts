import type { ModelRecord } from "../../lib/store/index.ts";
import type { ModelBatcher } from "../batching/batcher.ts";
import type { ExecutionProvider } from "../config.ts";
import type { ModelWorker } from "../inference/model-worker.ts";
import type { FamilyInfo } from "../tokenize/tokenizer-protocol.ts";
import type { ModelPlan } from "./model-plan.ts";

/** One model as served: its record, plan, tokenizer family, queue and workers. */
export class ServedModel {
  /** Time to load and warm up (the slowest of its workers), set once ready. */
  loadMs = 0;

  constructor(
    readonly record: ModelRecord,
    readonly family: FamilyInfo,
    readonly plan: ModelPlan,
    readonly workers: ModelWorker[],
    readonly batcher: ModelBatcher,
    /** model.onnx + its external weights file. */
    readonly bytesOnDisk: number,
    /** Answers a /process that names no models (the manifest's defaultFanOut). */
    readonly defaultFanOut: boolean,
  ) {}

  /** The response key. */
  get key(): string {
    return this.record.key;
  }

  get maxLength(): number {
    return this.plan.maxLength;
  }

  /** Shapes the loaded engine accepts (TensorRT profiles); rows are truncated and batches capped to fit. */
  get limits() {
    return this.plan.limits;
  }

  /**
   * What the model runs on now: its first worker's provider, read from the worker after every
   * (re)start, so a restart that fell back to another provider shows (each worker's own is in
   * /health/ready and /models). A service exists only once every worker has started once.
   */
  get provider(): ExecutionProvider {
    return this.workers[0].provider;
  }

  /** Why preferred providers were passed over, or failed to load in the first worker's latest start. */
  get providerNotes(): string[] {
    const failed = this.workers[0].info?.failed ?? [];
    return [...this.plan.providerNotes, ...failed.map((f) => `${f.provider} failed to load: ${f.error}`)];
  }
}
