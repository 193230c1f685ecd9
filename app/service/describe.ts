import { workerHealth } from "./classifier.ts";
import type { ServedModel } from "./served-model.ts";

/**
 * GET /models: what is served, where it came from, and the figures deployments are compared by.
 * Parameters are counted from the weights as converted (engine.json), so sparsity equals the
 * published checkpoint's: nothing is pruned.
 */
export function describeModel(m: ServedModel) {
  const { record: info, batcher } = m;
  const s = batcher.stats;
  const proven = info.weights.filter((w) => w.sha256 === w.onnxSha256).length;
  return {
    key: m.key,
    source: info.source,
    architecture: info.architecture,
    labels: info.labels,
    publishedLabels: info.publishedLabels,
    family: m.family.id,
    maxLength: m.maxLength,
    provider: m.provider,
    workers: m.workers.map(workerHealth),
    loadMs: Math.round(m.loadMs),
    engine: { converterVersion: info.converterVersion, convertedAt: info.convertedAt, onnx: { ...info.onnx } },
    weightProof: {
      tensors: info.weights.length,
      identical: proven,
      allIdentical: proven === info.weights.length,
      dtype: [...new Set(info.weights.map((w) => w.dtype))],
    },
    parameters: {
      total: info.parameters.total,
      nonZero: info.parameters.nonZero,
      sparsity: 1 - info.parameters.nonZero / info.parameters.total,
    },
    bytes: { weightsInMemory: info.parameters.bytes, onDisk: m.bytesOnDisk },
    inference: {
      batches: s.answeredBatches,
      rows: s.answeredRows,
      lastBatch: s.last && { rows: s.last.rows, ms: s.last.runMs, msPerText: s.last.runMs / s.last.rows },
      meanMsPerBatch: s.answeredBatches ? s.runMs / s.answeredBatches : null,
      meanMsPerText: s.answeredRows ? s.runMs / s.answeredRows : null,
    },
  };
}

export type ModelDescription = ReturnType<typeof describeModel>;
