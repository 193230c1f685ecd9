import type { ModelDescription, ModelObservation, Readiness, ServiceObservation } from "./api.ts";

/**
 * GET /models: what is served, where it came from, and the figures deployments are compared by.
 * Parameters are counted from the weights as converted (engine.json), so sparsity equals the
 * published checkpoint's: nothing is pruned.
 */
export function describeModel(m: ModelObservation): ModelDescription {
  const { record, batches: s } = m;
  const proven = record.weights.filter((w) => w.sha256 === w.onnxSha256).length;
  return {
    key: m.key,
    source: record.source,
    architecture: record.architecture,
    activation: record.activation,
    inputs: record.onnx.inputs,
    labels: record.labels,
    publishedLabels: record.publishedLabels,
    family: m.family,
    maxLength: m.maxLength,
    defaultFanOut: m.defaultFanOut,
    provider: m.provider,
    workers: m.workers,
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

/**
 * GET /health/ready: ready while accepting with every worker and at least one tokenizer process up
 * (a restarting worker makes the instance unready until it is back); `null` is a service still loading its models.
 */
export function readiness(s: ServiceObservation | null): Readiness {
  if (!s) return { status: "loading", pendingTexts: 0, models: [] };
  // With no tokenizer process up (all died and are starting again) nothing can be answered either.
  const up = s.models.every((m) => m.workers.every((w) => w.state === "up")) && s.tokenizers.processes > 0;
  return {
    status: s.draining ? "draining" : up ? "ready" : "degraded",
    pendingTexts: s.pendingTexts,
    models: s.models.map((m) => ({
      key: m.key,
      provider: m.provider,
      providerNotes: m.providerNotes,
      family: m.family,
      queued: m.queued,
      running: m.running,
      workers: m.workers,
    })),
  };
}
