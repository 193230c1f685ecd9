/**
 * ModernBertForSequenceClassification: token embeddings → norm (no positions added), pre-norm layers
 * (layer 0 without an attention norm) with a fused Wqkv projection, rotary positions (θ global or
 * local per layer), global attention every `global_attn_every_n_layers` layers and sliding-window
 * attention (|i − j| ≤ local_attention / 2) between, a GeGLU MLP, the final norm, then [CLS] or mean
 * pooling, the head (dense → GELU → norm) and the classifier. Biases only where the config asks.
 */
import type { ClassifierConfig, ConfigReader } from "../config.ts";
import { ElemType, type GraphBuilder } from "../graph.ts";
import { startClassifierGraph, type Weights } from "../layers.ts";
import { type AttentionRows, FLOAT_MIN } from "../rows.ts";
import type { Architecture } from "./types.ts";

interface ModernBertConfig extends ClassifierConfig {
  attentionBias: boolean;
  mlpBias: boolean;
  normBias: boolean;
  classifierBias: boolean;
  globalRopeTheta: number;
  localRopeTheta: number;
  /** Layer i attends globally when i % this == 0, within the local window otherwise. */
  globalAttnEveryNLayers: number;
  /** The local window's width: a token sees those at most half of it away. */
  localAttention: number;
  classifierPooling: "cls" | "mean";
}

function flag(r: ConfigReader, key: string, fallback: boolean): boolean {
  const v = r.raw[key] ?? fallback;
  if (typeof v !== "boolean") r.fail(`${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function pooling(r: ConfigReader): "cls" | "mean" {
  const v = r.raw.classifier_pooling ?? "cls";
  if (v !== "cls" && v !== "mean") r.fail(`classifier_pooling ${JSON.stringify(v)} is not supported (cls or mean)`);
  return v;
}

export const modernbert: Architecture = {
  names: ["ModernBertForSequenceClassification"],
  modelTypes: ["modernbert"],

  parseConfig(r, architecture): ModernBertConfig {
    r.gelu("hidden_activation");
    r.gelu("classifier_activation");
    const hiddenSize = r.int("hidden_size");
    const heads = r.heads(hiddenSize, "num_attention_heads");
    if ((hiddenSize / heads) % 2 !== 0) r.fail(`head size ${hiddenSize / heads} is odd: rotary positions need it even`);
    const labels = r.labels();
    const maxPositionEmbeddings = r.int("max_position_embeddings");
    const globalRopeTheta = r.positive("global_rope_theta", 160000);
    const everyN = r.int("global_attn_every_n_layers", 1);
    if (everyN === 0) r.fail("global_attn_every_n_layers must be at least 1");
    return {
      architecture,
      vocabSize: r.int("vocab_size"),
      hiddenSize,
      layers: r.int("num_hidden_layers"),
      heads,
      intermediateSize: r.int("intermediate_size"),
      layerNormEps: r.positive("norm_eps", 1e-5),
      maxPositionEmbeddings,
      padTokenId: r.int("pad_token_id", 50283),
      labels,
      activation: r.activation(labels.length),
      maxLength: maxPositionEmbeddings,
      inputs: ["input_ids", "attention_mask"],
      attentionBias: flag(r, "attention_bias", false),
      mlpBias: flag(r, "mlp_bias", false),
      normBias: flag(r, "norm_bias", false),
      classifierBias: flag(r, "classifier_bias", false),
      globalRopeTheta,
      // transformers falls back to the global θ when local_rope_theta is null.
      localRopeTheta: r.raw.local_rope_theta === null ? globalRopeTheta : r.positive("local_rope_theta", 10000),
      globalAttnEveryNLayers: everyN,
      localAttention: r.int("local_attention", 128),
      classifierPooling: pooling(r),
    };
  },

  build(c: ModernBertConfig, ckpt, layout = "padded") {
    const { g, weights, L, ids, rows } = startClassifierGraph(c, ckpt, layout);
    const m = new ModernBertGraph(g, L, c);
    const model = weights.scope("model");
    const embeddings = model.scope("embeddings");
    const tokens = g.op("Gather", [embeddings.weight("tok_embeddings.weight", [c.vocabSize, c.hiddenSize]), ids]);
    let x = g.op("Reshape", [m.norm(tokens, embeddings.scope("norm")), g.constInt64([-1, c.hiddenSize])]);

    const attentionRows = rows.attention();
    const positions = g.op("Cast", [attentionRows.positions], { to: ElemType.FLOAT });
    const keyMask = attentionRows.keyMask;
    const global = { rotary: m.rotary(positions, c.globalRopeTheta), maskAdd: keyMask };
    const isGlobal = (i: number) => i % c.globalAttnEveryNLayers === 0;
    // Layer 1 is the first local one, if any.
    const anyLocal = c.layers > 1 && !isGlobal(1);
    const local = anyLocal
      ? { rotary: m.rotary(positions, c.localRopeTheta), maskAdd: m.slidingWindowMask(positions, keyMask) }
      : global;
    for (let i = 0; i < c.layers; i++)
      x = m.layer(x, model.scope(`layers.${i}`), i, attentionRows, isGlobal(i) ? global : local);
    x = m.norm(x, model.scope("final_norm"));

    const H = c.hiddenSize;
    const pooled = c.classifierPooling === "mean" ? rows.meanOfRows(x, H) : rows.firstTokens(x, H);
    const head = weights.scope("head");
    const dense = L.gelu(m.linear(pooled, head.scope("dense"), c.hiddenSize, c.hiddenSize, c.classifierBias));
    L.logits(m.norm(dense, head.scope("norm")), weights.scope("classifier"), c.labels.length);
    return { graph: g, used: weights.used };
  },
};

type Layers = ReturnType<typeof startClassifierGraph>["L"];
/** cos and sin of the rotary angles, [sequence, head size] (packed: per slot of the longest row). */
type Rotary = { cos: string; sin: string };
type AttentionKind = { rotary: Rotary; maskAdd: string };

/** ModernBERT's pieces over one graph; x values are [batch*sequence, hidden] as in layers.ts. */
class ModernBertGraph {
  private readonly headDim: number;

  constructor(
    private readonly g: GraphBuilder,
    private readonly L: Layers,
    private readonly c: ModernBertConfig,
  ) {
    this.headDim = c.hiddenSize / c.heads;
  }

  linear(x: string, w: Weights, inDim: number, outDim: number, bias: boolean): string {
    const weight = w.weight("weight", [outDim, inDim]);
    return this.g.op("Gemm", bias ? [x, weight, w.weight("bias", [outDim])] : [x, weight], { transB: 1 });
  }

  /** LayerNorm over the hidden size, with a bias only when norm_bias says so. */
  norm(x: string, w: Weights): string {
    const H = this.c.hiddenSize;
    const scale = w.weight("weight", [H]);
    return this.g.op("LayerNormalization", this.c.normBias ? [x, scale, w.weight("bias", [H])] : [x, scale], {
      axis: -1,
      epsilon: { float: this.c.layerNormEps },
    });
  }

  /**
   * The rotary tables for positions [1, sequence] (float): angles position × inverse frequency in
   * float32 as torch computes them (the inverse frequencies rounded to float32 first), duplicated
   * over both halves of the head.
   */
  rotary(positions: string, theta: number): Rotary {
    const g = this.g;
    const D = this.headDim;
    const inverseFrequencies = Array.from({ length: D / 2 }, (_, i) =>
      Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / D))),
    );
    const column = g.op("Reshape", [positions, g.constInt64([-1, 1])]);
    const angles = g.op("Mul", [column, g.constFloats(inverseFrequencies)]);
    const both = g.op("Concat", [angles, angles], { axis: 1 });
    return { cos: g.op("Cos", [both]), sin: g.op("Sin", [both]) };
  }

  /**
   * The local layers' additive mask [batch, 1, sequence, sequence]: float min outside the window,
   * else the padding mask (packed, the same per row of slots). One Where, not a sum, so no score
   * ever reaches −∞.
   */
  slidingWindowMask(positions: string, keyMask: string): string {
    const g = this.g;
    const column = g.op("Reshape", [positions, g.constInt64([-1, 1])]);
    const distance = g.op("Abs", [g.op("Sub", [column, positions])]);
    const outside = g.op("Greater", [distance, g.constFloat(Math.floor(this.c.localAttention / 2))]);
    return g.op("Where", [outside, g.constFloat(FLOAT_MIN), keyMask]);
  }

  /** Pre-norm layer: x + attention(attn_norm(x)), then + mlp(mlp_norm(x)); layer 0 has no attention norm. */
  layer(x: string, w: Weights, index: number, rows: AttentionRows, kind: AttentionKind): string {
    const g = this.g;
    const attnIn = index === 0 ? x : this.norm(x, w.scope("attn_norm"));
    const attended = g.op("Add", [x, this.attention(attnIn, w.scope("attn"), rows, kind)]);
    return g.op("Add", [attended, this.mlp(this.norm(attended, w.scope("mlp_norm")), w.scope("mlp"))]);
  }

  /** The fused projection on the tokens; rotary positions, window and attention per row (rows.ts). */
  private attention(x: string, w: Weights, rows: AttentionRows, kind: AttentionKind): string {
    const g = this.g;
    const { hiddenSize: H, heads, attentionBias } = this.c;
    const D = this.headDim;
    const qkv = rows.toRows(this.linear(x, w.scope("Wqkv"), H, 3 * H, attentionBias), 3 * H);
    // [batch, sequence, 3, heads, D] → [3, batch, heads, sequence, D]
    const shape = g.op("Concat", [rows.batchSeq, g.constInt64([3, heads, D])], { axis: 0 });
    const split = g.op("Transpose", [g.op("Reshape", [qkv, shape])], { perm: [2, 0, 3, 1, 4] });
    const part = (i: number) => g.op("Gather", [split, g.constInt64([i], true)], { axis: 0 });
    const q = this.rotate(part(0), kind.rotary);
    const k = this.rotate(part(1), kind.rotary);
    const scores = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
    const scaled = g.op("Add", [g.op("Mul", [scores, g.constFloat(D ** -0.5)]), kind.maskAdd]);
    const context = g.op("MatMul", [g.op("Softmax", [scaled], { axis: -1 }), part(2)]);
    const merged = g.op("Reshape", [g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), g.constInt64([-1, H])]);
    return this.linear(rows.fromRows(merged), w.scope("Wo"), H, H, attentionBias);
  }

  /** x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁] over the head's two halves. */
  private rotate(x: string, { cos, sin }: Rotary): string {
    const g = this.g;
    const half = this.headDim / 2;
    const first = this.slice(x, 0, half, 3);
    const second = this.slice(x, half, this.headDim, 3);
    const rotated = g.op("Concat", [g.op("Neg", [second]), first], { axis: 3 });
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])]);
  }

  /** GeGLU: Wi → [input, gate] → GELU(input) · gate → Wo. */
  private mlp(x: string, w: Weights): string {
    const { hiddenSize: H, intermediateSize: I, mlpBias } = this.c;
    const up = this.linear(x, w.scope("Wi"), H, 2 * I, mlpBias);
    const gated = this.g.op("Mul", [this.L.gelu(this.slice(up, 0, I, 1)), this.slice(up, I, 2 * I, 1)]);
    return this.linear(gated, w.scope("Wo"), I, H, mlpBias);
  }

  private slice(x: string, start: number, end: number, axis: number): string {
    const g = this.g;
    return g.op("Slice", [x, g.constInt64([start]), g.constInt64([end]), g.constInt64([axis])]);
  }
}
