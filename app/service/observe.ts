import type { AnsweredBatch, ModelBatcher } from "../batching/batcher.ts";
import type { ModelWorker } from "../inference/model-worker.ts";
import type {
  BatchStats,
  ModelObservation,
  ServiceCounters,
  ServiceObservation,
  TokenizerObservation,
  WorkerHealth,
} from "./api.ts";
import type { ServedModel } from "./served-model.ts";

/** What observe() reads of the service. */
interface Observed {
  readonly draining: boolean;
  readonly pendingTexts: number;
  readonly counters: ServiceCounters;
  readonly models: readonly ServedModel[];
  readonly tokenizers: { readonly stats: TokenizerObservation };
}

/** The service as it stands, copied: the one place that reads batchers and workers for reporting. */
export function observe(s: Observed): ServiceObservation {
  return {
    draining: s.draining,
    pendingTexts: s.pendingTexts,
    counters: { ...s.counters },
    models: s.models.map(observeModel),
    tokenizers: s.tokenizers.stats,
  };
}

function observeModel(m: ServedModel): ModelObservation {
  return {
    key: m.key,
    record: m.record,
    family: m.family.id,
    maxLength: m.maxLength,
    provider: m.provider,
    providerNotes: m.providerNotes,
    loadMs: m.loadMs,
    bytesOnDisk: m.bytesOnDisk,
    defaultFanOut: m.defaultFanOut,
    queued: m.batcher.queued,
    running: m.batcher.running,
    batches: batchStats(m.batcher),
    workers: m.workers.map(observeWorker),
  };
}

function batchStats({ stats: s }: ModelBatcher): BatchStats {
  return {
    realTokens: s.realTokens,
    paddedTokens: s.paddedTokens,
    answeredBatches: s.answeredBatches,
    answeredRows: s.answeredRows,
    runMs: s.runMs,
    last: s.last && { ...s.last },
    cancelled: s.cancelled,
  };
}

const observeWorker = (w: ModelWorker): WorkerHealth => ({
  name: w.name,
  state: w.state,
  restarts: w.restarts,
  provider: w.provider,
});

/** Told of each batch a model answers (the metrics' histograms). */
export type BatchListener = (model: string, batch: AnsweredBatch) => void;

export function onBatchAnswered(models: readonly ServedModel[], fn: BatchListener) {
  for (const m of models) m.batcher.onAnswered((b) => fn(m.key, b));
}
