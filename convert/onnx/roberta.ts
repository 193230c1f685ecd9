import { ConvertError } from "../errors.ts";
import type { Checkpoint, CheckpointTensor } from "../checkpoint/index.ts";
import { DTYPE_BYTES, elementCount } from "../checkpoint/types.ts";
import { ElemType, GraphBuilder } from "./graph.ts";

export const SUPPORTED_ARCHITECTURES = [
  "XLMRobertaForSequenceClassification",
  "RobertaForSequenceClassification",
] as const;

/** What the graph needs from config.json, validated. */
export interface ClassifierConfig {
  architecture: (typeof SUPPORTED_ARCHITECTURES)[number];
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  layerNormEps: number;
  maxPositionEmbeddings: number;
  padTokenId: number;
  /** id2label as published, index = class id. */
  labels: string[];
}

export function parseClassifierConfig(file: string, cfg: Record<string, unknown>): ClassifierConfig {
  const fail = (why: string): never => {
    throw new ConvertError(file, why);
  };
  const archs = Array.isArray(cfg.architectures) ? (cfg.architectures as string[]) : [];
  const architecture = SUPPORTED_ARCHITECTURES.find((a) => archs.includes(a));
  if (!architecture)
    fail(
      `unsupported architecture ${JSON.stringify(cfg.architectures ?? null)}: expected one of ${SUPPORTED_ARCHITECTURES.join(", ")}`,
    );
  const int = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      fail(`${key} must be a non-negative integer, got ${JSON.stringify(cfg[key])}`);
    return v as number;
  };
  const act = cfg.hidden_act ?? "gelu";
  if (act !== "gelu") fail(`hidden_act ${JSON.stringify(act)} is not supported (only exact "gelu")`);
  const posType = cfg.position_embedding_type ?? "absolute";
  if (posType !== "absolute") fail(`position_embedding_type ${JSON.stringify(posType)} is not supported`);
  const hiddenSize = int("hidden_size");
  const heads = int("num_attention_heads");
  if (heads === 0 || hiddenSize % heads !== 0)
    fail(`hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${heads}`);
  // transformers: id2label wins; otherwise num_labels (default 2) with LABEL_i names.
  const id2label = (cfg.id2label ?? null) as Record<string, string> | null;
  let labels: string[];
  if (id2label && Object.keys(id2label).length > 0) {
    const n = Object.keys(id2label).length;
    labels = Array.from({ length: n }, (_, i) => id2label[String(i)] ?? fail(`id2label has no entry for id ${i}`));
  } else {
    labels = Array.from({ length: int("num_labels", 2) }, (_, i) => `LABEL_${i}`);
  }
  const eps = cfg.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) fail("layer_norm_eps must be a positive number");
  return {
    architecture: architecture!,
    vocabSize: int("vocab_size"),
    hiddenSize,
    layers: int("num_hidden_layers"),
    heads,
    intermediateSize: int("intermediate_size"),
    layerNormEps: eps as number,
    maxPositionEmbeddings: int("max_position_embeddings"),
    padTokenId: int("pad_token_id", 1),
    labels,
  };
}

/** The longest input the model can take: RoBERTa positions start after the padding index. */
export const maxSequenceLength = (c: ClassifierConfig) => c.maxPositionEmbeddings - c.padTokenId - 1;

/**
 * The graph of (XLM-)RobertaForSequenceClassification in inference mode, with Hugging Face's
 * semantics: RoBERTa position ids, token type 0, post-LN encoder, exact erf GELU, additive mask,
 * classification head on <s>. Standard ONNX ops of opset 17 only. Returns the graph and the
 * checkpoint tensors it uses (each becomes an initializer of the same name, bytes unchanged).
 */
export function buildClassifierGraph(
  c: ClassifierConfig,
  ckpt: Checkpoint,
): { graph: GraphBuilder; used: CheckpointTensor[] } {
  const g = new GraphBuilder(c.architecture);
  const used: CheckpointTensor[] = [];
  const H = c.hiddenSize;
  const headDim = H / c.heads;

  const w = (name: string, shape: number[]): string => {
    const t = ckpt.tensors.get(name) ?? ckpt.tensors.get(legacyName(name));
    if (!t) throw new ConvertError(ckpt.file, `tensor ${name} is missing`);
    if (t.dtype !== "F32")
      throw new ConvertError(
        ckpt.file,
        `tensor ${name} is ${t.dtype}; only FP32 weights are converted (no precision change)`,
      );
    if (t.shape.join("x") !== shape.join("x"))
      throw new ConvertError(ckpt.file, `tensor ${name} has shape [${t.shape}], config.json implies [${shape}]`);
    used.push(t);
    return g.weight({
      name,
      dims: t.shape,
      dataType: ElemType.FLOAT,
      byteLength: elementCount(t.shape) * DTYPE_BYTES.F32,
      bytes: () => t.bytes(),
    });
  };
  const linear = (x: string, prefix: string, inDim: number, outDim: number) =>
    g.op("Gemm", [x, w(`${prefix}.weight`, [outDim, inDim]), w(`${prefix}.bias`, [outDim])], { transB: 1 });
  const layerNorm = (x: string, prefix: string, output?: string) =>
    g.op(
      "LayerNormalization",
      [x, w(`${prefix}.weight`, [H]), w(`${prefix}.bias`, [H])],
      { axis: -1, epsilon: { float: c.layerNormEps } },
      output,
    );

  const ids = g.input("input_ids", ElemType.INT64, ["batch", "sequence"]);
  const mask = g.input("attention_mask", ElemType.INT64, ["batch", "sequence"]);

  // Embeddings. position = cumsum(ids != pad) * (ids != pad) + pad, as create_position_ids_from_input_ids.
  const pad = g.constInt64([c.padTokenId], true);
  const notPad = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, pad])])], { to: ElemType.INT64 });
  const positions = g.op("Add", [g.op("Mul", [g.op("CumSum", [notPad, g.constInt64([1], true)]), notPad]), pad]);
  const E = "roberta.embeddings";
  const words = g.op("Gather", [w(`${E}.word_embeddings.weight`, [c.vocabSize, H]), ids]);
  const pos = g.op("Gather", [w(`${E}.position_embeddings.weight`, [c.maxPositionEmbeddings, H]), positions]);
  const tokenTypes = ckpt.tensors.get(`${E}.token_type_embeddings.weight`)?.shape[0] ?? 1;
  const type0 = g.op("Gather", [w(`${E}.token_type_embeddings.weight`, [tokenTypes, H]), g.constInt64([0], true)]);
  const emb = layerNorm(g.op("Add", [g.op("Add", [words, pos]), type0]), `${E}.LayerNorm`);

  // Shapes: the encoder works on [batch*sequence, hidden] so every projection is one Gemm.
  const batchSeq = g.op("Shape", [ids]);
  const headsShape = g.op("Concat", [batchSeq, g.constInt64([c.heads, headDim])], { axis: 0 });
  const flat = g.constInt64([-1, H]);
  let x = g.op("Reshape", [emb, flat]);

  // Additive mask [batch, 1, 1, sequence]: 0 where attended, float32 min where masked (as transformers).
  const maskF = g.op("Cast", [mask], { to: ElemType.FLOAT });
  const masked = g.op("Mul", [g.op("Sub", [g.constFloat(1), maskF]), g.constFloat(-3.4028234663852886e38)]);
  const maskAdd = g.op("Unsqueeze", [masked, g.constInt64([1, 2])]);
  const scale = g.constFloat(Math.sqrt(headDim));
  const sqrt2 = g.constFloat(Math.SQRT2);
  const half = g.constFloat(0.5);
  const one = g.constFloat(1);

  for (let i = 0; i < c.layers; i++) {
    const L = `roberta.encoder.layer.${i}`;
    const heads = (prefix: string, perm: number[]) =>
      g.op("Transpose", [g.op("Reshape", [linear(x, prefix, H, H), headsShape])], { perm });
    const q = heads(`${L}.attention.self.query`, [0, 2, 1, 3]);
    const k = heads(`${L}.attention.self.key`, [0, 2, 3, 1]);
    const v = heads(`${L}.attention.self.value`, [0, 2, 1, 3]);
    const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), maskAdd]);
    const probs = g.op("Softmax", [scores], { axis: -1 });
    const context = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }), flat]);
    const attn = layerNorm(
      g.op("Add", [linear(context, `${L}.attention.output.dense`, H, H), x]),
      `${L}.attention.output.LayerNorm`,
    );
    const inner = linear(attn, `${L}.intermediate.dense`, H, c.intermediateSize);
    // GELU(x) = x * 0.5 * (1 + erf(x / sqrt 2)): the exact form, which onnxruntime fuses into one kernel.
    const gelu = g.op("Mul", [
      g.op("Mul", [inner, half]),
      g.op("Add", [g.op("Erf", [g.op("Div", [inner, sqrt2])]), one]),
    ]);
    x = layerNorm(
      g.op("Add", [linear(gelu, `${L}.output.dense`, c.intermediateSize, H), attn]),
      `${L}.output.LayerNorm`,
    );
  }

  // Classification head on <s> (position 0): dense → tanh → out_proj.
  const hidden = g.op("Reshape", [x, g.op("Concat", [batchSeq, g.constInt64([H])], { axis: 0 })]);
  const first = g.op("Gather", [hidden, g.constInt64([0], true)], { axis: 1 });
  const dense = g.op("Tanh", [linear(first, "classifier.dense", H, H)]);
  const logits = g.op(
    "Gemm",
    [dense, w("classifier.out_proj.weight", [c.labels.length, H]), w("classifier.out_proj.bias", [c.labels.length])],
    { transB: 1 },
    "logits",
  );
  g.output(logits, ElemType.FLOAT, ["batch", c.labels.length]);
  return { graph: g, used };
}

/** Checkpoints written before transformers 4 name LayerNorm parameters gamma/beta. */
function legacyName(name: string): string {
  return name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta");
}
