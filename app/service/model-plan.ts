/**
 * How one model is served, decided from facts alone (pure, unit-tested with numbers): its record
 * (engine.json), the provider choice for this host, and the settings. Triton normalises each model's
 * effective configuration the same way before it schedules anything.
 */
import type { InputSpec } from "../../lib/onnx/feeds.ts";
import type { ModelRecord } from "../../lib/store/index.ts";
import { sampleRow } from "../../lib/tokenizer/template.ts";
import type { BatchPolicyOptions } from "../batching/policy.ts";
import type { ExecutionProvider } from "../config.ts";
import type { ProviderCandidate, ProviderChoice } from "../inference/provider-choice.ts";

export interface PlanSettings {
  batch: BatchPolicyOptions;
  /** The batch cap for the CPU provider (CPU_MAX_BATCH_SIZE). */
  cpuMaxBatchSize: number;
}

export type ShapeLimits = NonNullable<ProviderCandidate["limits"]>;

export interface ModelPlan {
  /** Tokens a row may have: the record's maximum, within every candidate's shape limits. */
  maxLength: number;
  /** The strictest limits of any candidate: they hold whichever one loads. */
  limits?: ShapeLimits;
  /** The graph's inputs (as engine.json records them) and the pad id; its logits output. */
  input: InputSpec;
  output: string;
  /** Rows each worker runs once before it reports ready: the template's special ids around ordinary ones. */
  warmup: number[][];
  /** Preferred providers passed over, and why. */
  providerNotes: string[];
}

/**
 * Rows per batch for a worker running on `provider` (the one place the cap is decided; the worker
 * asks again after every restart): batches pay off on a GPU; on the CPU they are capped
 * (CPU_MAX_BATCH_SIZE); a TensorRT profile caps them too.
 */
export function batchCap(provider: ExecutionProvider, limits: ShapeLimits | undefined, settings: PlanSettings): number {
  const cpuCap = provider === "cpu" ? settings.cpuMaxBatchSize : Infinity;
  return Math.min(settings.batch.maxBatchSize, limits?.maxBatch ?? Infinity, cpuCap);
}

export function planModel(record: ModelRecord, choice: ProviderChoice): ModelPlan {
  const limits = choice.candidates.find((c) => c.limits)?.limits;
  const maxLength = Math.min(record.maxLength, limits?.maxSequence ?? Infinity);
  return {
    maxLength,
    limits,
    input: { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad },
    output: record.onnx.outputs[0],
    warmup: [2, Math.min(32, maxLength)].map((length) => sampleRow(record.specialTokens, length)),
    providerNotes: choice.passedOver.map((p) => `${p.provider}: ${p.reason}`),
  };
}

/**
 * onnxruntime threads per session when INTRA_OP_THREADS is not set: the cores shared among the
 * sessions this instance really loads (models × workers each), at least one.
 */
export function intraOpThreads(configured: number | null, cores: number, sessions: number): number {
  return configured ?? Math.max(1, Math.floor(cores / Math.max(1, sessions)));
}
