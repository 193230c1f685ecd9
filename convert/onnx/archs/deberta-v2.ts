/**
 * DebertaV2ForSequenceClassification (DeBERTa-v2, DeBERTa-v3, mDeBERTa), as transformers'
 * modeling_deberta_v2.py computes it: embeddings (word; positions only if position_biased_input;
 * token types only if type_vocab_size > 0; embed_proj when embedding_size ≠ hidden), then LayerNorm
 * and the mask; post-LN layers of disentangled self-attention (content→position and
 * position→content terms over log-bucketed relative positions); v2-xlarge's ConvLayer after the
 * first layer; ContextPooler (dense → pooler_hidden_act on [CLS]) then `classifier`.
 */
import type { Checkpoint } from "../../checkpoint/index.ts";
import type { ClassifierConfig, ConfigReader } from "../config.ts";
import type { GraphBuilder } from "../graph.ts";
import { startClassifierGraph, type Weights } from "../layers.ts";
import { type AttentionRows, FLOAT_MIN, type RowLayout } from "../rows.ts";
import type { Architecture } from "./types.ts";

type Activation = "gelu" | "tanh" | "relu";

interface DebertaConfig extends ClassifierConfig {
  embeddingSize: number;
  positionBiasedInput: boolean;
  typeVocabSize: number;
  /** attention_head_size: the heads' width, heads × it need not be hidden_size. */
  headSize: number;
  /** null when relative_attention is false. */
  relative: RelativeAttention | null;
  /** pos_att_type's c2p and p2c: each one also widens the score scale. */
  c2p: boolean;
  p2c: boolean;
  shareAttKey: boolean;
  conv: { kernel: number; groups: number; act: Activation } | null;
  poolerAct: Activation;
}

interface RelativeAttention {
  /** position_buckets, or ≤ 0 for plain clipped distances. */
  buckets: number;
  /** max_relative_positions, max_position_embeddings when < 1. */
  maxRelative: number;
  /** The attention span: rel_embeddings has 2 × span rows. */
  span: number;
  /** norm_rel_ebd has layer_norm: rel_embeddings go through encoder.LayerNorm. */
  normalized: boolean;
  /** The distance past which both gather indices stay clamped (saturationReach). */
  reach: number;
}

/**
 * The graph takes any length when positions are relative only (distances clipped into a fixed table,
 * see relativeIndexTables), so engine.json states this bound and the service caps rows with its own
 * maximum below it. What grows is memory, with the square of the length: at 4096 one [heads, q, k]
 * score tensor of a base model is 0.8 GB per row, a few of them live at once.
 */
const RELATIVE_ONLY_MAX_LENGTH = 4096;

const ACTIVATIONS: readonly Activation[] = ["gelu", "tanh", "relu"];

function activation(r: ConfigReader, key: string, fallback: Activation): Activation {
  const act = r.raw[key] ?? fallback;
  if (!ACTIVATIONS.includes(act as Activation))
    r.fail(`${key} ${JSON.stringify(act)} is not supported (only ${ACTIVATIONS.join(", ")})`);
  return act as Activation;
}

function flag(r: ConfigReader, key: string, fallback: boolean): boolean {
  const v = r.raw[key] ?? fallback;
  if (typeof v !== "boolean") r.fail(`${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** A list, or "p2c|c2p" as DebertaV2Config splits it; other entries are ignored, as transformers does. */
function listOrBars(r: ConfigReader, key: string, fallback: string): string[] {
  const v = r.raw[key] ?? fallback;
  if (typeof v === "string")
    return v
      .toLowerCase()
      .split("|")
      .map((s) => s.trim());
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v.map((s) => s.toLowerCase().trim());
  return r.fail(`${key} must be a list of strings or a "|"-separated string, got ${JSON.stringify(v)}`);
}

function relativeAttention(r: ConfigReader, maxPositionEmbeddings: number): RelativeAttention | null {
  if (!flag(r, "relative_attention", false)) return null;
  const raw = (key: string) => {
    const v = r.raw[key] ?? -1;
    if (!Number.isSafeInteger(v)) r.fail(`${key} must be an integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const maxRelative = raw("max_relative_positions") < 1 ? maxPositionEmbeddings : raw("max_relative_positions");
  const buckets = raw("position_buckets");
  if (buckets > 0 && (buckets < 2 || maxRelative - 1 <= Math.floor(buckets / 2)))
    r.fail(`position_buckets ${buckets} needs max relative positions ${maxRelative} above half of it, plus one`);
  const normalized = listOrBars(r, "norm_rel_ebd", "none").includes("layer_norm");
  const span = buckets > 0 ? buckets : maxRelative;
  const reach = saturationReach(buckets, maxRelative, span);
  if (reach === undefined)
    r.fail(`relative positions (buckets ${buckets}, max ${maxRelative}) reach beyond ${MAX_REACH} tokens`);
  return { buckets, maxRelative, span, normalized, reach };
}

export function parseDebertaConfig(r: ConfigReader, architecture: string): DebertaConfig {
  r.gelu("hidden_act");
  const hiddenSize = r.int("hidden_size");
  const heads = r.heads(hiddenSize, "num_attention_heads");
  const labels = r.labels();
  const maxPositionEmbeddings = r.int("max_position_embeddings", 512);
  const positionBiasedInput = flag(r, "position_biased_input", true);
  const typeVocabSize = r.int("type_vocab_size", 0);
  const posAtt = listOrBars(r, "pos_att_type", "");
  if (r.int("pooler_hidden_size", hiddenSize) !== hiddenSize)
    r.fail(`pooler_hidden_size must equal hidden_size ${hiddenSize}: the pooler reads [CLS]'s hidden state`);
  const kernel = r.int("conv_kernel_size", 0);
  if (kernel > 0 && kernel % 2 === 0) r.fail(`conv_kernel_size ${kernel} must be odd to keep the sequence's length`);
  const groups = r.int("conv_groups", 1);
  if (kernel > 0 && (groups === 0 || hiddenSize % groups !== 0))
    r.fail(`hidden size ${hiddenSize} is not a multiple of conv_groups ${groups}`);
  return {
    architecture,
    vocabSize: r.int("vocab_size"),
    hiddenSize,
    layers: r.int("num_hidden_layers"),
    heads,
    intermediateSize: r.int("intermediate_size"),
    layerNormEps: r.positive("layer_norm_eps", 1e-7),
    maxPositionEmbeddings,
    padTokenId: r.int("pad_token_id", 0),
    labels,
    activation: r.activation(labels.length),
    maxLength: positionBiasedInput ? maxPositionEmbeddings : RELATIVE_ONLY_MAX_LENGTH,
    inputs: ["input_ids", "attention_mask", ...(typeVocabSize > 0 ? ["token_type_ids"] : [])],
    embeddingSize: r.int("embedding_size", hiddenSize),
    positionBiasedInput,
    typeVocabSize,
    headSize: r.int("attention_head_size", hiddenSize / heads),
    relative: relativeAttention(r, maxPositionEmbeddings),
    c2p: posAtt.includes("c2p"),
    p2c: posAtt.includes("p2c"),
    shareAttKey: flag(r, "share_att_key", false),
    conv: kernel > 0 ? { kernel, groups, act: activation(r, "conv_act", "tanh") } : null,
    poolerAct: activation(r, "pooler_hidden_act", "gelu"),
  };
}

/**
 * transformers' make_log_bucket_position for one distance, step by step in float32 as torch runs
 * it (the ratio of the two logs is exactly 1 at max_relative_positions − 1, as there).
 */
export function relativeBucket(distance: number, buckets: number, maxRelative: number): number {
  const mid = Math.floor(buckets / 2);
  const abs = Math.abs(distance);
  if (buckets <= 0 || abs <= mid) return distance;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(abs / mid))) / f(Math.log(f((maxRelative - 1) / mid))));
  return Math.sign(distance) * (Math.ceil(f(ratio * (mid - 1))) + mid);
}

/** Tables past this many tokens of distance are refused (a config whose buckets never saturate). */
const MAX_REACH = 1 << 16;

/**
 * The distance from which the bucket is at least `span` on either side: there both gather indices
 * sit at their clamp (0 or 2·span − 1), and stay there (the bucket only grows with the distance).
 */
function saturationReach(buckets: number, maxRelative: number, span: number): number | undefined {
  for (let reach = 1; reach <= MAX_REACH; reach++)
    if (relativeBucket(reach, buckets, maxRelative) >= span) return reach;
  return undefined;
}

/**
 * The c2p and p2c gather indices of every distance i − j in [−reach, reach], clamped to the 2 × span
 * relative embeddings as transformers clamps them. Farther distances give the same indices as ±reach,
 * so the graph clips distances to ±reach and takes any length with tables of 2 × reach + 1 entries:
 * no sequence limit, and no float arithmetic at run time that a reduced precision could shift.
 */
export function relativeIndexTables(rel: RelativeAttention): { c2p: number[]; p2c: number[] } {
  const { span, reach } = rel;
  const clamp = (v: number) => Math.min(Math.max(v, 0), 2 * span - 1);
  const c2p: number[] = [];
  const p2c: number[] = [];
  for (let d = -reach; d <= reach; d++) {
    const bucket = relativeBucket(d, rel.buckets, rel.maxRelative);
    c2p.push(clamp(bucket + span));
    p2c.push(clamp(span - bucket));
  }
  return { c2p, p2c };
}

/**
 * Flat gather indices [sequence, sequence] into a [.., sequence × 2·span] score row block: c2p's
 * [i][j] picks query i's score for the bucket of i − j; p2c's [i][j] picks key j's score for the
 * bucket of j − i (transformers' gather-then-transpose, done on the indices).
 */
function relativeGatherIndices(g: GraphBuilder, rel: RelativeAttention, seq: string) {
  const { c2p, p2c } = relativeIndexTables(rel);
  const reach = rel.reach;
  const positions = g.op("Range", [g.constInt64([0], true), seq, g.constInt64([1], true)]);
  const column = g.op("Unsqueeze", [positions, g.constInt64([1])]);
  const row = g.op("Unsqueeze", [positions, g.constInt64([0])]);
  const distance = g.op("Sub", [column, row]);
  const clipped = g.op("Min", [g.op("Max", [distance, g.constInt64([-reach], true)]), g.constInt64([reach], true)]);
  const slot = g.op("Add", [clipped, g.constInt64([reach], true)]);
  const rowStart = g.op("Mul", [column, g.constInt64([2 * rel.span], true)]);
  const c2pIndex = g.op("Add", [rowStart, g.op("Gather", [g.constInt64(c2p), slot])]);
  const p2cIndex = g.op("Transpose", [g.op("Add", [rowStart, g.op("Gather", [g.constInt64(p2c), slot])])], {
    perm: [1, 0],
  });
  return { c2pIndex, p2cIndex };
}

type Graph = ReturnType<typeof startClassifierGraph>;

function act(G: Graph, x: string, a: Activation): string {
  if (a === "gelu") return G.L.gelu(x);
  return G.g.op(a === "tanh" ? "Tanh" : "Relu", [x]);
}

/** Multiplies by the token mask when there is one (padded); packed tokens are all real. */
function masked(G: Graph, x: string, tokenMask: string | null): string {
  return tokenMask ? G.g.op("Mul", [x, tokenMask]) : x;
}

/** word (+ positions) (+ token types) → embed_proj → LayerNorm → × mask, as [batch·sequence, hidden]. */
function embeddings(G: Graph, c: DebertaConfig, tokenMask: string | null): string {
  const { g, weights, L, H, ids, rows } = G;
  const E = weights.scope("deberta.embeddings");
  const width = c.embeddingSize;
  let emb = g.op("Gather", [E.weight("word_embeddings.weight", [c.vocabSize, width]), ids]);
  if (c.positionBiasedInput) {
    const table = E.weight("position_embeddings.weight", [c.maxPositionEmbeddings, width]);
    emb = g.op("Add", [emb, g.op("Gather", [table, rows.positions()])]);
  }
  if (c.typeVocabSize > 0) {
    const types = rows.tokenTypes();
    const table = E.weight("token_type_embeddings.weight", [c.typeVocabSize, width]);
    emb = g.op("Add", [emb, g.op("Gather", [table, types])]);
  }
  let flat = g.op("Reshape", [emb, g.constInt64([-1, width])]);
  if (width !== H) flat = g.op("Gemm", [flat, E.weight("embed_proj.weight", [H, width])], { transB: 1 });
  return masked(G, L.layerNorm(flat, E.scope("LayerNorm")), tokenMask);
}

interface AttentionContext {
  /** Where attention runs (rows.ts): the padded batch, or packed tokens gathered per row. */
  rows: AttentionRows;
  batchSeq: string;
  /** [batch, 1, q, k]: 0 where both tokens are real, float32's minimum elsewhere. */
  maskAdd: string;
  /** [batch, 1, q, k]: 1 where both tokens are real, 0 elsewhere (XSoftmax zeroes those after the softmax). */
  mask2d: string;
  /** Normalized relative embeddings [2·span, hidden] and the gather indices, when relative. */
  relEmbeddings?: string;
  gather?: { c2pIndex: string; p2cIndex: string };
}

/** [rows, heads·d] → [batch, heads, rows, d] (or [heads, rows, d] for the relative embeddings). */
function splitHeads(G: Graph, c: DebertaConfig, x: string, leading: string, perm: number[]): string {
  const shape = G.g.op("Concat", [leading, G.g.constInt64([c.heads, c.headSize])], { axis: 0 });
  return G.g.op("Transpose", [G.g.op("Reshape", [x, shape])], { perm });
}

/**
 * DisentangledSelfAttention on x [batch·sequence, hidden]: (QKᵀ + c2p + p2c) / √(d·(1 + #terms)),
 * masked softmax, × V. The scale is applied to Q and to the position queries, so no [b, h, q, k]
 * tensor is divided.
 */
function disentangledAttention(G: Graph, c: DebertaConfig, x: string, w: Weights, ctx: AttentionContext): string {
  const { g, H } = G;
  const AH = c.heads * c.headSize;
  // Each projection's weights read once: with share_att_key the position terms reuse query_proj and key_proj.
  const projections = new Map<string, { weight: string; bias: string }>();
  const linear = (input: string, name: string) => {
    let p = projections.get(name);
    if (!p) {
      p = { weight: w.weight(`${name}.weight`, [AH, H]), bias: w.weight(`${name}.bias`, [AH]) };
      projections.set(name, p);
    }
    return g.op("Gemm", [input, p.weight, p.bias], { transB: 1 });
  };
  const scale = g.constFloat(Math.sqrt(c.headSize * (1 + Number(c.c2p) + Number(c.p2c))));
  const tokens = (t: string) => splitHeads(G, c, ctx.rows.toRows(t, AH), ctx.batchSeq, [0, 2, 1, 3]);
  const q = tokens(g.op("Div", [linear(x, "query_proj"), scale]));
  const k = tokens(linear(x, "key_proj"));
  const v = tokens(linear(x, "value_proj"));
  let scores = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
  if (c.relative && ctx.relEmbeddings && ctx.gather) {
    const rel = ctx.relEmbeddings;
    const relRows = g.constInt64([2 * c.relative.span]);
    const project = (name: string) => splitHeads(G, c, linear(rel, name), relRows, [1, 0, 2]);
    // Scores [b, h, rows, 2·span] flattened per head, then gathered at the [q, k] indices.
    const gathered = (s: string, index: string) =>
      g.op("Gather", [g.op("Reshape", [s, g.constInt64([0, 0, -1])]), index], { axis: 2 });
    if (c.c2p) {
      const posKey = project(c.shareAttKey ? "key_proj" : "pos_key_proj");
      const c2p = g.op("MatMul", [q, g.op("Transpose", [posKey], { perm: [0, 2, 1] })]);
      scores = g.op("Add", [scores, gathered(c2p, ctx.gather.c2pIndex)]);
    }
    if (c.p2c) {
      const posQuery = g.op("Div", [project(c.shareAttKey ? "query_proj" : "pos_query_proj"), scale]);
      const p2c = g.op("MatMul", [k, g.op("Transpose", [posQuery], { perm: [0, 2, 1] })]);
      scores = g.op("Add", [scores, gathered(p2c, ctx.gather.p2cIndex)]);
    }
  }
  const probs = g.op("Mul", [g.op("Softmax", [g.op("Add", [scores, ctx.maskAdd])], { axis: -1 }), ctx.mask2d]);
  const merged = g.op("Reshape", [
    g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }),
    g.constInt64([-1, AH]),
  ]);
  return ctx.rows.fromRows(merged);
}

type Conv = NonNullable<DebertaConfig["conv"]>;

/**
 * One Conv over each row's sequence, its zero padding and the zeroed slots past the row's end the
 * row's edges: on the padded batch, or on packed tokens gathered per row and gathered back.
 */
function convolution(G: Graph, conv: Conv, emb: string, w: Weights, rows: AttentionRows): string {
  const { g, H } = G;
  const seqFirst = g.op("Reshape", [
    rows.toRows(emb, H),
    g.op("Concat", [rows.batchSeq, g.constInt64([H])], { axis: 0 }),
  ]);
  const pad = (conv.kernel - 1) / 2;
  const convolved = g.op(
    "Conv",
    [
      g.op("Transpose", [seqFirst], { perm: [0, 2, 1] }),
      w.weight("conv.weight", [H, H / conv.groups, conv.kernel]),
      w.weight("conv.bias", [H]),
    ],
    { kernel_shape: [conv.kernel], pads: [pad, pad], group: conv.groups },
  );
  return rows.fromRows(g.op("Reshape", [g.op("Transpose", [convolved], { perm: [0, 2, 1] }), g.constInt64([-1, H])]));
}

/**
 * ConvLayer (DeBERTa-v2-xlarge): a 1-D convolution over the embeddings' sequence within each row,
 * pads zeroed, activation, + the first layer's output, LayerNorm, × mask.
 */
function convLayer(G: Graph, c: DebertaConfig, emb: string, layerOut: string, tokenMask: string | null) {
  const { weights, L, rows } = G;
  const conv = c.conv;
  if (!conv) return layerOut;
  const flat = convolution(G, conv, emb, weights.scope("deberta.encoder.conv"), rows.attention());
  const w = weights.scope("deberta.encoder.conv");
  const out = act(G, masked(G, flat, tokenMask), conv.act);
  return masked(G, L.layerNorm(G.g.op("Add", [layerOut, out]), w.scope("LayerNorm")), tokenMask);
}

/** The attention masks, [rows, 1, q, k]: mask_q · mask_k, and its additive form (XSoftmax's two uses). */
function masks(G: Graph, rows: AttentionRows) {
  const { g } = G;
  const mask2d = rows.pairMask;
  const maskAdd = g.op("Mul", [g.op("Sub", [g.constFloat(1), mask2d]), g.constFloat(FLOAT_MIN)]);
  return { mask2d, maskAdd };
}

function build(c: DebertaConfig, ckpt: Checkpoint, layout: RowLayout = "padded") {
  const G = startClassifierGraph(c, ckpt, layout);
  const { g, weights, L, H, rows } = G;
  const attentionRows = rows.attention();
  const { batchSeq } = attentionRows;
  const tokenMask = rows.tokenMask();
  const ctx: AttentionContext = { rows: attentionRows, batchSeq, ...masks(G, attentionRows) };
  const encoder = weights.scope("deberta.encoder");
  if (c.relative) {
    const table = encoder.weight("rel_embeddings.weight", [2 * c.relative.span, H]);
    ctx.relEmbeddings = c.relative.normalized ? L.layerNorm(table, encoder.scope("LayerNorm")) : table;
    const seq = g.op("Gather", [batchSeq, g.constInt64([1], true)]);
    ctx.gather = relativeGatherIndices(g, c.relative, seq);
  }
  const emb = embeddings(G, c, tokenMask);
  let x = emb;
  for (let i = 0; i < c.layers; i++) {
    const layer = encoder.scope(`layer.${i}`);
    const attention = layer.scope("attention");
    x = L.postLnLayer(x, {
      attention: (h) =>
        L.linear(
          disentangledAttention(G, c, h, attention.scope("self"), ctx),
          attention.scope("output.dense"),
          c.heads * c.headSize,
          H,
        ),
      attentionNorm: attention.scope("output.LayerNorm"),
      feedForward: (h) => L.feedForward(h, layer.scope("intermediate.dense"), layer.scope("output.dense")),
      outputNorm: layer.scope("output.LayerNorm"),
    });
    if (i === 0) x = convLayer(G, c, emb, x, tokenMask);
  }
  const pooled = act(G, L.linear(rows.firstTokens(x, H), weights.scope("pooler.dense"), H, H), c.poolerAct);
  L.logits(pooled, weights.scope("classifier"), c.labels.length);
  return { graph: g, used: weights.used };
}

export const debertaV2: Architecture = {
  names: ["DebertaV2ForSequenceClassification"],
  modelTypes: ["deberta-v2"],
  parseConfig: parseDebertaConfig,
  build,
};
