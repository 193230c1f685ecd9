/**
 * How one model is served, decided from facts alone (pure, unit-tested with numbers): its record
 * (engine.json), the provider choice for this host, and the settings. Triton normalises each model's
 * effective configuration the same way before it schedules anything.
 */
import { MAX_PACKED_TOKENS } from "../../lib/gpu/packing.ts";
import type { HostGpuFacts } from "../../lib/gpu/probe.ts";
import type { InputSpec } from "../../lib/onnx/feeds.ts";
import type { ModelRecord, StoredModel } from "../../lib/store/index.ts";
import { sampleRow } from "../../lib/tokenizer/template.ts";
import type { LimitsFor } from "../batching/batcher.ts";
import type { BatchLimits, BatchPolicyOptions } from "../batching/policy.ts";
import type { ExecutionProvider } from "../config.ts";
import type { WarmupBatch } from "../inference/protocol.ts";
import { chooseProviders, type ProviderCandidate, type ProviderChoice } from "../inference/provider-choice.ts";

export interface PlanSettings {
  batch: BatchPolicyOptions;
  /** The CPU provider's own limits (CPU_MAX_BATCH_SIZE, CPU_MAX_BATCH_TOKENS). */
  cpuBatch: BatchLimits;
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
  /**
   * Batches a worker runs once on the provider it loaded, before it reports ready: rows of 2 and 32
   * tokens (the first runs allocate and pick kernels), then the longest shape it will be sent, so a
   * maxLength the graph cannot take (its position table) or a profile the engine does not accept
   * fails the start instead of every long text. Loading adds a row with the family tokenizer's
   * largest id (withLargestIdRow).
   */
  warmup: Partial<Record<ExecutionProvider, WarmupBatch[]>>;
  /** Preferred providers passed over, and why. */
  providerNotes: string[];
  /** The providers whose worker runs the packed graph (the choice's usesPacked): their batches pad nothing. */
  packedOn: ExecutionProvider[];
}

/** One stored model with the providers it may run on here and how it is served: decided before anything loads. */
export interface PlannedModel {
  stored: StoredModel;
  choice: ProviderChoice;
  plan: ModelPlan;
}

/**
 * Every model's providers (in `preferences` order, on this host) and plan: the first step of a start,
 * since the tokenizers are loaded at the lengths the plans allow (familyLengths).
 */
export function planModels(
  models: StoredModel[],
  preferences: ExecutionProvider[],
  host: HostGpuFacts,
  maxSequenceLength: number,
): PlannedModel[] {
  return models.map((stored) => {
    const { record } = stored;
    const { onnx } = record;
    const files = { onnxModel: onnx.model, onnxSha256: onnx.modelSha256, packed: onnx.packed, trt: record.trt };
    const choice = chooseProviders(preferences, files, host);
    return { stored, choice, plan: planModel(record, choice, maxSequenceLength) };
  });
}

/** Each tokenizer family encodes up to the longest row any of its models' plans allows. */
export function familyLengths(planned: PlannedModel[]): Map<string, number> {
  const lengths = new Map<string, number>();
  for (const { stored, plan } of planned) {
    const family = stored.record.tokenizer.family;
    lengths.set(family, Math.max(lengths.get(family) ?? 0, plan.maxLength));
  }
  return lengths;
}

/**
 * How large a batch may be for a worker running on `provider` (the one place it is decided; the
 * batcher asks again for every batch, so a worker that a restart moved to the CPU gets the CPU's):
 * MAX_BATCH_SIZE and MAX_BATCH_TOKENS, the rows within a TensorRT profile's (the plan's limits hold
 * whichever candidate loads); on the CPU, where a batch costs its tokens, within the CPU's own
 * smaller limits too. `packed`: the worker runs the packed graph, so a batch is priced by its tokens
 * and their attention, not longest row × rows (app/batching/policy.ts).
 */
export function batchLimits(
  provider: ExecutionProvider,
  limits: ShapeLimits | undefined,
  settings: PlanSettings,
  packed = false,
): BatchLimits {
  const cpu = provider === "cpu" ? settings.cpuBatch : { maxBatchSize: Infinity, maxBatchTokens: Infinity };
  // A GPU running the packed graph takes the simulated T4's cap (lib/gpu/packing.ts); MAX_BATCH_TOKENS prices padded batches.
  const gpuPacked = packed && provider !== "cpu" ? MAX_PACKED_TOKENS[provider] : 0;
  return {
    maxBatchSize: Math.min(settings.batch.maxBatchSize, limits?.maxBatch ?? Infinity, cpu.maxBatchSize),
    maxBatchTokens: gpuPacked || Math.min(settings.batch.maxBatchTokens, cpu.maxBatchTokens),
    ...(packed ? { packed } : {}),
  };
}

/** One model's batch limits per provider, for its batcher. */
export function limitsFor(plan: Pick<ModelPlan, "limits" | "packedOn">, settings: PlanSettings): LimitsFor {
  return (provider) => batchLimits(provider, plan.limits, settings, plan.packedOn.includes(provider));
}

/**
 * One model's plan. Its longest row: what its graph takes (engine.json's maxLength: the position table,
 * or a bound for DeBERTa's relative positions), within a TensorRT profile's, within MAX_SEQUENCE_LENGTH.
 */
export function planModel(record: ModelRecord, choice: ProviderChoice, maxSequenceLength = Infinity): ModelPlan {
  const limits = choice.candidates.find((c) => c.limits)?.limits;
  const maxLength = Math.min(record.maxLength, limits?.maxSequence ?? Infinity, maxSequenceLength);
  return {
    maxLength,
    limits,
    input: { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad },
    output: record.onnx.outputs[0],
    warmup: Object.fromEntries(
      choice.candidates.map((c) => [c.provider, warmupBatches(record, maxLength, c.provider, limits)]),
    ),
    providerNotes: choice.passedOver.map((p) => `${p.provider}: ${p.reason}`),
    // A provider whose packed graph fails to load runs the padded one with the same limits (its batches priced packed).
    packedOn: [...new Set(choice.candidates.filter((c) => c.packed).map((c) => c.provider))],
  };
}

/**
 * The short rows, then maxLength: one row on the CPU (the length is what the graph bounds); under a
 * TensorRT profile, which caps every GPU candidate, the profile's maximum batch of maximum-length rows.
 */
function warmupBatches(
  record: ModelRecord,
  maxLength: number,
  provider: ExecutionProvider,
  limits: ShapeLimits | undefined,
): WarmupBatch[] {
  const profile = provider !== "cpu" && limits !== undefined;
  const longest = { length: maxLength, rows: profile ? limits.maxBatch : 1 };
  const ifFails = profile
    ? `the TensorRT profile's maximum, ${limits.maxBatch} × ${limits.maxSequence}: rebuild the engine (convert --trt)`
    : `engine.json's maxLength is ${record.maxLength}: more than the graph takes? convert the model again`;
  const same = (a: typeof longest, b: typeof longest) => a.length === b.length && a.rows === b.rows;
  const short = [2, 32].map((n) => ({ length: Math.min(n, maxLength), rows: 1 }));
  // Of equal shapes the last is kept: the longest, with what its failure means.
  const shapes = [...short, longest].filter((s, i, all) => !all.slice(i + 1).some((t) => same(s, t)));
  return shapes.map((s) => ({
    row: sampleRow(record.specialTokens, s.length),
    rows: s.rows,
    ...(s === longest ? { ifFails } : {}),
  }));
}

/**
 * The plan's warm-up with one more short row on every provider: the template's specials around the
 * family tokenizer's largest id, known once the family is loaded (after planning). A model whose
 * embedding has fewer rows than its tokenizer has ids (convert refuses it; a hand-edited engines
 * folder may still hold one) fails its start naming itself and the id, instead of passing readiness
 * and answering every text holding that id with 500.
 */
export function withLargestIdRow(
  warmup: ModelPlan["warmup"],
  record: Pick<ModelRecord, "key" | "specialTokens">,
  largestId: number,
): ModelPlan["warmup"] {
  const { prefix, suffix } = record.specialTokens;
  const batch: WarmupBatch = {
    row: [...prefix, largestId, ...suffix],
    rows: 1,
    ifFails:
      `model ${record.key} cannot take its tokenizer's largest id ${largestId}: are its embedding rows fewer ` +
      "than the tokenizer's ids? pair the model with its own tokenizer and convert it again",
  };
  return Object.fromEntries(
    Object.entries(warmup).map(([provider, batches]) => [provider, [...(batches ?? []), batch]]),
  );
}

/**
 * onnxruntime threads per session when INTRA_OP_THREADS is not set: the cores shared among the
 * sessions this instance really loads (models × workers each), at least one.
 */
export function intraOpThreads(configured: number | null, cores: number, sessions: number): number {
  return configured ?? Math.max(1, Math.floor(cores / Math.max(1, sessions)));
}
