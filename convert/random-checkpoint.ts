import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes (XLM-)RobertaForSequenceClassification checkpoints with random weights in the real
 * formats: the tests' tiny models, and full-size ones (real dimensions) for benchmarks, whose cost
 * does not depend on the weights' values.
 */
export interface RandomCheckpointSpec {
  architecture: "xlmr" | "roberta";
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  /** id2label to publish; omit for a config without one (LABEL_0/LABEL_1, like EIStakovskii). */
  labels?: string[];
  numLabels?: number;
  seed?: number;
}

export const FULL_SIZE = {
  xlmr: {
    architecture: "xlmr",
    vocabSize: 250002,
    hiddenSize: 768,
    layers: 12,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 514,
  },
  roberta: {
    architecture: "roberta",
    vocabSize: 50265,
    hiddenSize: 768,
    layers: 12,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 514,
  },
} as const satisfies Record<string, Omit<RandomCheckpointSpec, "labels">>;

/** Small enough for CI, with the vocabularies of the shared tokenizer fixtures so real ids fit. */
export const TINY = {
  xlmr: {
    architecture: "xlmr",
    vocabSize: 250002,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 514,
  },
  roberta: {
    architecture: "roberta",
    vocabSize: 50265,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 514,
  },
} as const satisfies Record<string, Omit<RandomCheckpointSpec, "labels">>;

export function checkpointTensorShapes(s: RandomCheckpointSpec): [string, number[]][] {
  const H = s.hiddenSize;
  const n = s.labels?.length ?? s.numLabels ?? 2;
  const out: [string, number[]][] = [
    ["roberta.embeddings.word_embeddings.weight", [s.vocabSize, H]],
    ["roberta.embeddings.position_embeddings.weight", [s.maxPositionEmbeddings, H]],
    ["roberta.embeddings.token_type_embeddings.weight", [1, H]],
    ["roberta.embeddings.LayerNorm.weight", [H]],
    ["roberta.embeddings.LayerNorm.bias", [H]],
  ];
  for (let i = 0; i < s.layers; i++) {
    const L = `roberta.encoder.layer.${i}`;
    for (const p of ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"])
      out.push([`${L}.${p}.weight`, [H, H]], [`${L}.${p}.bias`, [H]]);
    out.push([`${L}.attention.output.LayerNorm.weight`, [H]], [`${L}.attention.output.LayerNorm.bias`, [H]]);
    out.push(
      [`${L}.intermediate.dense.weight`, [s.intermediateSize, H]],
      [`${L}.intermediate.dense.bias`, [s.intermediateSize]],
    );
    out.push([`${L}.output.dense.weight`, [H, s.intermediateSize]], [`${L}.output.dense.bias`, [H]]);
    out.push([`${L}.output.LayerNorm.weight`, [H]], [`${L}.output.LayerNorm.bias`, [H]]);
  }
  out.push(
    ["classifier.dense.weight", [H, H]],
    ["classifier.dense.bias", [H]],
    ["classifier.out_proj.weight", [n, H]],
    ["classifier.out_proj.bias", [n]],
  );
  return out;
}

/** Writes config.json and model.safetensors into `dir`, one tensor at a time (full size is 1.1 GB). */
export function writeRandomCheckpoint(dir: string, s: RandomCheckpointSpec): void {
  mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    architectures: [
      s.architecture === "xlmr" ? "XLMRobertaForSequenceClassification" : "RobertaForSequenceClassification",
    ],
    model_type: s.architecture === "xlmr" ? "xlm-roberta" : "roberta",
    vocab_size: s.vocabSize,
    hidden_size: s.hiddenSize,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    intermediate_size: s.intermediateSize,
    hidden_act: "gelu",
    max_position_embeddings: s.maxPositionEmbeddings,
    type_vocab_size: 1,
    layer_norm_eps: 1e-5,
    pad_token_id: 1,
    bos_token_id: 0,
    eos_token_id: 2,
  };
  if (s.labels) {
    config.id2label = Object.fromEntries(s.labels.map((l, i) => [String(i), l]));
    config.label2id = Object.fromEntries(s.labels.map((l, i) => [l, i]));
  } else if (s.numLabels) config.num_labels = s.numLabels;
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));

  const shapes = checkpointTensorShapes(s);
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, shape] of shapes) {
    const len = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // data aligned to 8, as the reference writer does
  const fd = openSync(join(dir, "model.safetensors"), "w");
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
    writeSync(fd, len);
    writeSync(fd, new TextEncoder().encode(json));
    const rand = mulberry32(s.seed ?? 1);
    for (const [name, shape] of shapes) {
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const isNormWeight = name.endsWith("LayerNorm.weight");
      // Scale so activations stay O(1) through the layers, whatever the hidden size.
      const scale = name.endsWith(".bias")
        ? 0.1
        : name.includes("embeddings")
          ? 1
          : 1 / Math.sqrt(shape[shape.length - 1]);
      for (let i = 0; i < values.length; i++)
        values[i] = isNormWeight ? 1 + 0.1 * (rand() - 0.5) : scale * (2 * rand() - 1) * 1.7;
      writeSync(fd, new Uint8Array(values.buffer));
    }
  } finally {
    closeSync(fd);
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
