import type { WorkerState } from "../workers/supervised-worker.ts";
import type { ServedModel } from "./served-model.ts";

/** A worker as /health/ready and /models show it (api.ts's WorkerHealth). */
export const workerHealth = (w: { name: string; state: WorkerState; restarts: number }) => ({
  name: w.name,
  state: w.state,
  restarts: w.restarts,
});

/**
 * GET /models: what is served, where it came from, and the figures deployments are compared by.
 * Parameters are counted from the weights as converted (engine.json), so sparsity equals the
 * published checkpoint's: nothing is pruned.
 */
export function describeModel(m: ServedModel) {
  const { record, batcher } = m;
  const s = batcher.stats;
  const proven = record.weights.filter((w) => w.sha256 === w.onnxSha256).length;
  return {
    key: m.key,
    source: record.source,
    architecture: record.architecture,
    activation: record.activation,
    inputs: record.onnx.inputs,
    labels: record.labels,
    publishedLabels: record.publishedLabels,
    family: m.family.id,
    maxLength: m.maxLength,
    provider: m.provider,
    workers: m.workers.map((w) => ({ ...workerHealth(w), provider: w.provider })),
    loadMs: Math.round(m.loadMs),
    engine: { converterVersion: record.converterVersion, convertedAt: record.convertedAt, onnx: { ...record.onnx } },
    // A model served as given has no checkpoint to hash against: no counts that would read as a proof.
    weightProof:
      record.weightProof === "byte-identical"
        ? {
            kind: record.weightProof,
            tensors: record.weights.length,
            identical: proven,
            allIdentical: proven === record.weights.length,
            dtype: [...new Set(record.weights.map((w) => w.dtype))],
          }
        : { kind: record.weightProof },
    parameters: {
      total: record.parameters.total,
      nonZero: record.parameters.nonZero,
      sparsity: 1 - record.parameters.nonZero / record.parameters.total,
    },
    bytes: { weightsInMemory: record.parameters.bytes, onDisk: m.bytesOnDisk },
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
