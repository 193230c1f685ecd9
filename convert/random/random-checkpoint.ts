import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes (XLM-)RoBERTa, BERT, DistilBERT, DeBERTa-v3, ELECTRA and ModernBERT sequence-classification
 * checkpoints with random weights in the real formats: the tests' tiny models, and full-size ones (real
 * dimensions) for benchmarks, whose cost does not depend on the weights' values.
 */
export type RandomArchitecture = "xlmr" | "roberta" | "bert" | "distilbert" | "deberta" | "electra" | "modernbert";

export interface RandomCheckpointSpec {
  architecture: RandomArchitecture;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  /** id2label to publish; omit for a config without one (LABEL_0/LABEL_1, like EIStakovskii). */
  labels?: string[];
  numLabels?: number;
  /** multi_label_classification: sigmoid scores per label. */
  problemType?: "multi_label_classification";
  seed?: number;
  /** ELECTRA: the embeddings' width (embeddings_project lifts them to the hidden size when narrower). */
  embeddingSize?: number;
  /** ModernBERT: the local layers' window, and every how many layers one attends globally. */
  localAttention?: number;
  globalAttnEveryNLayers?: number;
  classifierPooling?: "cls" | "mean";
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
  bert: {
    architecture: "bert",
    vocabSize: 30522,
    hiddenSize: 768,
    layers: 12,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
  },
  distilbert: {
    architecture: "distilbert",
    vocabSize: 30522,
    hiddenSize: 768,
    layers: 6,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
  },
  // microsoft/deberta-v3-base: 128,100 word rows (the tokenizer's 128,001 ids, padded).
  deberta: {
    architecture: "deberta",
    vocabSize: 128100,
    hiddenSize: 768,
    layers: 12,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
  },
  /** google/electra-base-discriminator's dimensions. */
  electra: {
    architecture: "electra",
    vocabSize: 30522,
    embeddingSize: 768,
    hiddenSize: 768,
    layers: 12,
    heads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
  },
  /** answerdotai/ModernBERT-base's dimensions (no biases, [CLS] pooling). */
  modernbert: {
    architecture: "modernbert",
    vocabSize: 50368,
    hiddenSize: 768,
    layers: 22,
    heads: 12,
    intermediateSize: 1152,
    maxPositionEmbeddings: 8192,
    localAttention: 128,
    globalAttnEveryNLayers: 3,
  },
} as const satisfies Record<RandomArchitecture, Omit<RandomCheckpointSpec, "labels">>;

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
  bert: {
    architecture: "bert",
    vocabSize: 30522,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 512,
  },
  distilbert: {
    architecture: "distilbert",
    vocabSize: 30522,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 512,
  },
  deberta: {
    architecture: "deberta",
    vocabSize: 128100,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 512,
  },
  /** Embeddings narrower than the hidden size, so embeddings_project is exercised. */
  electra: {
    architecture: "electra",
    vocabSize: 30522,
    embeddingSize: 8,
    hiddenSize: 16,
    layers: 2,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 512,
  },
  /** Layers global, local, local; a window of 8 (|i − j| ≤ 4), so rows longer than 5 tokens use it. */
  modernbert: {
    architecture: "modernbert",
    vocabSize: 50368,
    hiddenSize: 16,
    layers: 3,
    heads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 8192,
    localAttention: 8,
    globalAttnEveryNLayers: 3,
  },
} as const satisfies Record<RandomArchitecture, Omit<RandomCheckpointSpec, "labels">>;

/** The tensors a checkpoint of the spec's architecture holds, in transformers' names and torch's layouts. */
function checkpointTensorShapes(s: RandomCheckpointSpec): [string, number[]][] {
  if (s.architecture === "modernbert") return modernBertTensorShapes(s);
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const n = s.labels?.length ?? s.numLabels ?? 2;
  const linear = (name: string, out: number, inp: number): [string, number[]][] => [
    [`${name}.weight`, [out, inp]],
    [`${name}.bias`, [out]],
  ];
  const norm = (name: string, width = H): [string, number[]][] => [
    [`${name}.weight`, [width]],
    [`${name}.bias`, [width]],
  ];
  if (s.architecture === "deberta") return debertaTensorShapes(s, linear, norm, n);
  if (s.architecture === "distilbert") {
    const out: [string, number[]][] = [
      ["distilbert.embeddings.word_embeddings.weight", [s.vocabSize, H]],
      ["distilbert.embeddings.position_embeddings.weight", [s.maxPositionEmbeddings, H]],
      ...norm("distilbert.embeddings.LayerNorm"),
    ];
    for (let i = 0; i < s.layers; i++) {
      const L = `distilbert.transformer.layer.${i}`;
      for (const p of ["q_lin", "k_lin", "v_lin", "out_lin"]) out.push(...linear(`${L}.attention.${p}`, H, H));
      out.push(...norm(`${L}.sa_layer_norm`), ...linear(`${L}.ffn.lin1`, I, H), ...linear(`${L}.ffn.lin2`, H, I));
      out.push(...norm(`${L}.output_layer_norm`));
    }
    return [...out, ...linear("pre_classifier", H, H), ...linear("classifier", n, H)];
  }
  const bert = s.architecture === "bert";
  const electra = s.architecture === "electra";
  const base = bert ? "bert" : electra ? "electra" : "roberta";
  // ELECTRA's embeddings may be narrower than its hidden size.
  const E = s.embeddingSize ?? H;
  const out: [string, number[]][] = [
    [`${base}.embeddings.word_embeddings.weight`, [s.vocabSize, E]],
    [`${base}.embeddings.position_embeddings.weight`, [s.maxPositionEmbeddings, E]],
    [`${base}.embeddings.token_type_embeddings.weight`, [bert || electra ? 2 : 1, E]],
    ...norm(`${base}.embeddings.LayerNorm`, E),
  ];
  if (E !== H) out.push(...linear(`${base}.embeddings_project`, H, E));
  for (let i = 0; i < s.layers; i++) {
    const L = `${base}.encoder.layer.${i}`;
    for (const p of ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"])
      out.push(...linear(`${L}.${p}`, H, H));
    out.push(...norm(`${L}.attention.output.LayerNorm`), ...linear(`${L}.intermediate.dense`, I, H));
    out.push(...linear(`${L}.output.dense`, H, I), ...norm(`${L}.output.LayerNorm`));
  }
  if (bert) return [...out, ...linear("bert.pooler.dense", H, H), ...linear("classifier", n, H)];
  // RoBERTa's head and ELECTRA's have the same names: classifier.dense, classifier.out_proj.
  return [...out, ...linear("classifier.dense", H, H), ...linear("classifier.out_proj", n, H)];
}

type Shapes = [string, number[]][];

/** DebertaV2ForSequenceClassification as DeBERTa-v3 has it: no position table, 2 × 256 relative rows, ContextPooler. */
function debertaTensorShapes(
  s: RandomCheckpointSpec,
  linear: (name: string, out: number, inp: number) => Shapes,
  norm: (name: string) => Shapes,
  labels: number,
): Shapes {
  const H = s.hiddenSize;
  const out: Shapes = [
    ["deberta.embeddings.word_embeddings.weight", [s.vocabSize, H]],
    ...norm("deberta.embeddings.LayerNorm"),
  ];
  for (let i = 0; i < s.layers; i++) {
    const L = `deberta.encoder.layer.${i}`;
    for (const p of ["query_proj", "key_proj", "value_proj"]) out.push(...linear(`${L}.attention.self.${p}`, H, H));
    out.push(...linear(`${L}.attention.output.dense`, H, H), ...norm(`${L}.attention.output.LayerNorm`));
    out.push(...linear(`${L}.intermediate.dense`, s.intermediateSize, H));
    out.push(...linear(`${L}.output.dense`, H, s.intermediateSize), ...norm(`${L}.output.LayerNorm`));
  }
  out.push(
    ["deberta.encoder.rel_embeddings.weight", [2 * DEBERTA_V3_BUCKETS, H]],
    ...norm("deberta.encoder.LayerNorm"),
  );
  return [...out, ...linear("pooler.dense", H, H), ...linear("classifier", labels, H)];
}

const DEBERTA_V3_BUCKETS = 256;

/** microsoft/deberta-v3-base's config.json settings beyond the sizes. */
const debertaV3Config = (s: RandomCheckpointSpec) => ({
  architectures: ["DebertaV2ForSequenceClassification"],
  model_type: "deberta-v2",
  vocab_size: s.vocabSize,
  hidden_size: s.hiddenSize,
  num_hidden_layers: s.layers,
  num_attention_heads: s.heads,
  intermediate_size: s.intermediateSize,
  hidden_act: "gelu",
  max_position_embeddings: s.maxPositionEmbeddings,
  type_vocab_size: 0,
  layer_norm_eps: 1e-7,
  pad_token_id: 0,
  relative_attention: true,
  max_relative_positions: -1,
  position_buckets: DEBERTA_V3_BUCKETS,
  pos_att_type: ["p2c", "c2p"],
  share_att_key: true,
  norm_rel_ebd: "layer_norm",
  position_biased_input: false,
  pooler_hidden_size: s.hiddenSize,
  pooler_hidden_act: "gelu",
  pooler_dropout: 0,
});

/** ModernBERT's tensors: no biases (as ModernBERT-base), no attention norm in layer 0, a fused Wqkv, GeGLU's Wi [2·ff, d]. */
function modernBertTensorShapes(s: RandomCheckpointSpec): [string, number[]][] {
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const n = s.labels?.length ?? s.numLabels ?? 2;
  const out: [string, number[]][] = [
    ["model.embeddings.tok_embeddings.weight", [s.vocabSize, H]],
    ["model.embeddings.norm.weight", [H]],
  ];
  for (let i = 0; i < s.layers; i++) {
    const L = `model.layers.${i}`;
    if (i > 0) out.push([`${L}.attn_norm.weight`, [H]]);
    out.push([`${L}.attn.Wqkv.weight`, [3 * H, H]], [`${L}.attn.Wo.weight`, [H, H]], [`${L}.mlp_norm.weight`, [H]]);
    out.push([`${L}.mlp.Wi.weight`, [2 * I, H]], [`${L}.mlp.Wo.weight`, [H, I]]);
  }
  return [
    ...out,
    ["model.final_norm.weight", [H]],
    ["head.dense.weight", [H, H]],
    ["head.norm.weight", [H]],
    ["classifier.weight", [n, H]],
    ["classifier.bias", [n]],
  ];
}

/** config.json as save_pretrained writes it for the spec's architecture. */
function configOf(s: RandomCheckpointSpec): Record<string, unknown> {
  if (s.architecture === "deberta") return debertaV3Config(s);
  if (s.architecture === "modernbert") return modernBertConfig(s);
  if (s.architecture === "electra")
    return {
      architectures: ["ElectraForSequenceClassification"],
      model_type: "electra",
      vocab_size: s.vocabSize,
      embedding_size: s.embeddingSize ?? s.hiddenSize,
      hidden_size: s.hiddenSize,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      intermediate_size: s.intermediateSize,
      hidden_act: "gelu",
      max_position_embeddings: s.maxPositionEmbeddings,
      type_vocab_size: 2,
      layer_norm_eps: 1e-12,
      pad_token_id: 0,
    };
  if (s.architecture === "distilbert")
    return {
      architectures: ["DistilBertForSequenceClassification"],
      model_type: "distilbert",
      vocab_size: s.vocabSize,
      dim: s.hiddenSize,
      n_layers: s.layers,
      n_heads: s.heads,
      hidden_dim: s.intermediateSize,
      activation: "gelu",
      max_position_embeddings: s.maxPositionEmbeddings,
      pad_token_id: 0,
    };
  if (s.architecture === "bert")
    return {
      architectures: ["BertForSequenceClassification"],
      model_type: "bert",
      vocab_size: s.vocabSize,
      hidden_size: s.hiddenSize,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      intermediate_size: s.intermediateSize,
      hidden_act: "gelu",
      max_position_embeddings: s.maxPositionEmbeddings,
      type_vocab_size: 2,
      layer_norm_eps: 1e-12,
      pad_token_id: 0,
    };
  const xlmr = s.architecture === "xlmr";
  return {
    architectures: [xlmr ? "XLMRobertaForSequenceClassification" : "RobertaForSequenceClassification"],
    model_type: xlmr ? "xlm-roberta" : "roberta",
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
}

/** ModernBERT-base's config.json but for the spec's dimensions: its rope θs, special ids and no biases. */
function modernBertConfig(s: RandomCheckpointSpec): Record<string, unknown> {
  return {
    architectures: ["ModernBertForSequenceClassification"],
    model_type: "modernbert",
    vocab_size: s.vocabSize,
    hidden_size: s.hiddenSize,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    intermediate_size: s.intermediateSize,
    hidden_activation: "gelu",
    classifier_activation: "gelu",
    max_position_embeddings: s.maxPositionEmbeddings,
    global_attn_every_n_layers: s.globalAttnEveryNLayers ?? 3,
    local_attention: s.localAttention ?? 128,
    global_rope_theta: 160000.0,
    local_rope_theta: 10000.0,
    attention_bias: false,
    mlp_bias: false,
    norm_bias: false,
    classifier_bias: false,
    classifier_pooling: s.classifierPooling ?? "cls",
    norm_eps: 1e-5,
    pad_token_id: 50283,
    bos_token_id: 50281,
    eos_token_id: 50282,
    cls_token_id: 50281,
    sep_token_id: 50282,
  };
}

/** Writes config.json and model.safetensors into `dir`, one tensor at a time (full size is 1.1 GB). */
export function writeRandomCheckpoint(dir: string, s: RandomCheckpointSpec): void {
  mkdirSync(dir, { recursive: true });
  const config = configOf(s);
  if (s.problemType) config.problem_type = s.problemType;
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
      // BERT's LayerNorm and ModernBERT's norms (`norm`, `attn_norm`, `mlp_norm`, `final_norm`) start near 1.
      const isNormWeight =
        name.endsWith("LayerNorm.weight") || /\.(norm|attn_norm|mlp_norm|final_norm)\.weight$/.test(name);
      // Scale so activations stay O(1) through the layers, whatever the hidden size.
      const scale = name.endsWith(".bias")
        ? 0.1
        : name.includes("embeddings.")
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
