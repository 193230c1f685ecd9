/**
 * The pieces every encoder classifier is built from, in standard ONNX opset-17 ops, with Hugging
 * Face's semantics: a weight reader that proves nothing is altered (each checkpoint tensor becomes
 * an initializer of the same name, bytes unchanged), linear, layer norm, exact GELU, self-attention,
 * feed-forward and the post-LN encoder layer.
 */
import type { Checkpoint, CheckpointTensor } from "../checkpoint/index.ts";
import { DTYPE_BYTES, elementCount } from "../checkpoint/types.ts";
import { ConvertError } from "../errors.ts";
import type { ClassifierConfig } from "./config.ts";
import { ElemType, GraphBuilder } from "./graph.ts";
import { type AttentionRows, type RowLayout, rowsOf } from "./rows.ts";

/** Reads FP32 weights of one checkpoint into a graph, checking their shapes; records every tensor used. */
class WeightReader {
  readonly used: CheckpointTensor[] = [];

  constructor(
    private readonly g: GraphBuilder,
    private readonly ckpt: Checkpoint,
  ) {}

  /** The tensor `name`, or its pre-transformers-4 name (LayerNorm gamma/beta), as an initializer. */
  weight(name: string, shape: number[]): string {
    const t = this.ckpt.tensors.get(name) ?? this.ckpt.tensors.get(legacyName(name));
    if (!t) throw new ConvertError(this.ckpt.file, `tensor ${name} is missing`);
    if (t.dtype !== "F32")
      throw new ConvertError(
        this.ckpt.file,
        `tensor ${name} is ${t.dtype}; only FP32 weights are converted (no precision change)`,
      );
    if (t.shape.join("x") !== shape.join("x"))
      throw new ConvertError(this.ckpt.file, `tensor ${name} has shape [${t.shape}], config.json implies [${shape}]`);
    this.used.push(t);
    // Initializers keep the checkpoint's own name (the legacy one too): the proof compares like with like.
    return this.g.weight({
      name: t.name,
      dims: t.shape,
      dataType: ElemType.FLOAT,
      byteLength: elementCount(t.shape) * DTYPE_BYTES.F32,
      bytes: () => t.bytes(),
    });
  }

  /** The first dimension of a tensor if the checkpoint has it (e.g. how many token types). */
  rows(name: string): number | undefined {
    return (this.ckpt.tensors.get(name) ?? this.ckpt.tensors.get(legacyName(name)))?.shape[0];
  }

  /** A reader whose names start with `prefix.`: the layer builders name weights relative to their module. */
  scope(prefix: string): Weights {
    return {
      weight: (name, shape) => this.weight(`${prefix}.${name}`, shape),
      scope: (p) => this.scope(`${prefix}.${p}`),
    };
  }
}

export interface Weights {
  weight(name: string, shape: number[]): string;
  scope(prefix: string): Weights;
}

/** Checkpoints written before transformers 4 name LayerNorm parameters gamma/beta (transformers renames them on load). */
function legacyName(name: string): string {
  return name.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta");
}

export interface EncoderShape {
  hidden: number;
  heads: number;
  intermediate: number;
  layerNormEps: number;
}

/** Builders over one graph; `x` values are [batch*sequence, hidden] so every projection is one Gemm. */
class Layers {
  private readonly sqrt2: string;
  private readonly half: string;
  private readonly one: string;

  constructor(
    readonly g: GraphBuilder,
    readonly shape: EncoderShape,
  ) {
    this.sqrt2 = g.constFloat(Math.SQRT2);
    this.half = g.constFloat(0.5);
    this.one = g.constFloat(1);
  }

  /** x·Wᵀ + b, with torch's Linear layout ([out, in]). */
  linear(x: string, w: Weights, inDim: number, outDim: number): string {
    return this.g.op("Gemm", [x, w.weight("weight", [outDim, inDim]), w.weight("bias", [outDim])], { transB: 1 });
  }

  /** Over the last axis, `width` wide: the hidden size, or ELECTRA's smaller embedding size. */
  layerNorm(x: string, w: Weights, eps = this.shape.layerNormEps, width = this.shape.hidden): string {
    return this.g.op("LayerNormalization", [x, w.weight("weight", [width]), w.weight("bias", [width])], {
      axis: -1,
      epsilon: { float: eps },
    });
  }

  /** GELU(x) = x · 0.5 · (1 + erf(x / √2)): the exact form, which onnxruntime fuses into one kernel. */
  gelu(x: string): string {
    const g = this.g;
    return g.op("Mul", [
      g.op("Mul", [x, this.half]),
      g.op("Add", [g.op("Erf", [g.op("Div", [x, this.sqrt2])]), this.one]),
    ]);
  }

  /**
   * Multi-head self-attention on x [tokens, hidden]: the projections on the tokens, attention per row
   * in `rows` (rows.ts). The projections' names are the architecture's (q/k/v/out), the weights under `w`.
   */
  selfAttention(x: string, w: Weights, names: { q: string; k: string; v: string }, rows: AttentionRows): string {
    const g = this.g;
    const { hidden: H, heads } = this.shape;
    const headDim = H / heads;
    const headsShape = g.op("Concat", [rows.batchSeq, g.constInt64([heads, headDim])], { axis: 0 });
    const split = (name: string, perm: number[]) =>
      g.op("Transpose", [g.op("Reshape", [rows.toRows(this.linear(x, w.scope(name), H, H), H), headsShape])], {
        perm,
      });
    const q = split(names.q, [0, 2, 1, 3]);
    const k = split(names.k, [0, 2, 3, 1]);
    const v = split(names.v, [0, 2, 1, 3]);
    const scaled = g.op("Div", [g.op("MatMul", [q, k]), g.constFloat(Math.sqrt(headDim))]);
    const probs = g.op("Softmax", [g.op("Add", [scaled, rows.keyMask])], { axis: -1 });
    const merged = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }),
      g.constInt64([-1, H]),
    ]);
    return rows.fromRows(merged);
  }

  /** dense → GELU → dense. */
  feedForward(x: string, up: Weights, down: Weights): string {
    const { hidden: H, intermediate: I } = this.shape;
    return this.linear(this.gelu(this.linear(x, up, H, I)), down, I, H);
  }

  /** A post-LN encoder layer: x + attention → norm; that + feed-forward → norm. */
  postLnLayer(
    x: string,
    parts: {
      attention: (x: string) => string;
      attentionNorm: Weights;
      feedForward: (x: string) => string;
      outputNorm: Weights;
    },
  ): string {
    const attended = this.layerNorm(this.g.op("Add", [parts.attention(x), x]), parts.attentionNorm);
    return this.layerNorm(this.g.op("Add", [parts.feedForward(attended), attended]), parts.outputNorm);
  }

  /**
   * BERT's encoder (RoBERTa's too): `layers` post-LN layers named as transformers' BertLayer,
   * `{prefix}.{i}.attention.self.query`, …, `.output.LayerNorm`. x is [batch*sequence, hidden].
   */
  bertEncoder(x: string, w: Weights, layers: number, rows: AttentionRows): string {
    const H = this.shape.hidden;
    for (let i = 0; i < layers; i++) {
      const layer = w.scope(String(i));
      const attention = layer.scope("attention");
      const self = { q: "query", k: "key", v: "value" };
      x = this.postLnLayer(x, {
        attention: (h) =>
          this.linear(
            this.selfAttention(h, attention.scope("self"), self, rows),
            attention.scope("output.dense"),
            H,
            H,
          ),
        attentionNorm: attention.scope("output.LayerNorm"),
        feedForward: (h) => this.feedForward(h, layer.scope("intermediate.dense"), layer.scope("output.dense")),
        outputNorm: layer.scope("output.LayerNorm"),
      });
    }
    return x;
  }

  /** The graph's output: `logits` [batch, labels] (packed: a batch of R rows) = x·Wᵀ + b with the head's weights. */
  logits(x: string, head: Weights, labels: number): void {
    const H = this.shape.hidden;
    const out = this.g.op(
      "Gemm",
      [x, head.weight("weight", [labels, H]), head.weight("bias", [labels])],
      { transB: 1 },
      "logits",
    );
    this.g.output(out, ElemType.FLOAT, ["batch", labels]);
  }
}

/**
 * What every architecture's build starts from: the graph, its weight reader and layer builders for
 * the config's shapes, and the rows' layout (padded or packed, rows.ts) with the inputs it declares.
 */
export function startClassifierGraph(c: ClassifierConfig, ckpt: Checkpoint, layout: RowLayout) {
  const g = new GraphBuilder(layout === "packed" ? `${c.architecture} (packed)` : c.architecture);
  const weights = new WeightReader(g, ckpt);
  const rows = rowsOf(g, layout);
  const shape = {
    hidden: c.hiddenSize,
    heads: c.heads,
    intermediate: c.intermediateSize,
    layerNormEps: c.layerNormEps,
  };
  const L = new Layers(g, shape);
  return { g, weights, L, H: c.hiddenSize, ids: rows.ids, rows };
}
