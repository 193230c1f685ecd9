/**
 * How a graph lays its batch's rows on the token axis, and what follows from it: where a token's row
 * starts, which tokens may attend to which, which token a row is pooled from.
 *
 * Padded (model.onnx): `input_ids` and `attention_mask` [batch, sequence], each row padded to the
 * longest; the architecture's `token_type_ids` [batch, sequence] beside them.
 *
 * Packed (model.packed.onnx, engine.json's `onnx.packed`): the rows concatenated on one token axis
 * of T tokens, no pad tokens, so no compute is spent on padding. The graph declares only the inputs
 * it reads (engine.json's `onnx.packed.inputs` lists them), all int64:
 *   input_ids      [1, T]  the rows' tokens, one row after another
 *   token_type_ids [1, T]  each token's type, where the padded graph takes them (BERT, ELECTRA, DeBERTa with a type table)
 *   positions      [1, T]  each token's index in its row, from 0: the graph applies its architecture's rule
 *                          (BERT, DistilBERT, ELECTRA: the table's row; ModernBERT: rotary angles and the
 *                          sliding window). RoBERTa and XLM-R count their positions past padding_idx from
 *                          the ids as transformers does, and DeBERTa's relative positions need no index:
 *                          neither takes it.
 *   row_ids        [1, T]  each token's row, 0 … R−1, rows in order: a token attends only to its own row's
 *   row_starts     [R]     each row's first token (the [CLS] or <s> a head reads; R = the number of rows)
 * and answers `logits` [R, labels], one row of logits per packed row, in row order. Attention costs
 * T² scores (masked outside each row's block), so the batcher caps T (app/batching/policy.ts).
 */
import { ElemType, type GraphBuilder } from "./graph.ts";

export type RowLayout = "padded" | "packed";

/** float32's lowest value: the additive mask transformers uses for keys a query may not see. */
export const FLOAT_MIN = -3.4028234663852886e38;

/** What an architecture asks of its rows' layout; x values are [tokens, hidden] (tokens = batch × sequence, or T). */
export interface Rows {
  readonly layout: RowLayout;
  /** input_ids: [batch, sequence], or [1, T]. */
  readonly ids: string;
  /** The shape of input_ids, [batch, sequence] or [1, T]: what x reshapes to per row. */
  readonly batchSeq: string;
  /** The token_type_ids input (declared on first use). */
  tokenTypes(): string;
  /** Each token's index in its row from 0, int64: [1, sequence] (broadcast over the batch), or [1, T]. */
  positions(): string;
  /** CumSum of x [batch, sequence] or [1, T] along each row, restarting at every row (RoBERTa's positions). */
  cumSumWithinRows(x: string): string;
  /** Additive attention mask, broadcastable to [batch, heads, q, k]: 0 where a query may see the key, FLOAT_MIN elsewhere. */
  attentionMask(): string;
  /** 1 where a query and key are both real tokens of one row, 0 elsewhere, [batch or 1, 1, q, k] float. */
  pairMask(): string;
  /** 1 on real tokens, [tokens, 1] float; null when every token is real (packed). */
  tokenMask(): string | null;
  /** The first token's vector of each row: [rows, hidden]. */
  firstTokens(x: string, hidden: number): string;
  /** The mean of each row's token vectors: [rows, hidden]. */
  meanOfRows(x: string, hidden: number): string;
  /** Each token's row as [tokens] int64 (packed), or null: padded rows never share a token axis. */
  rowOfToken(): string | null;
  /** Softmax of masked attention scores [.., q, k] over the keys. */
  attentionSoftmax(scores: string): string;
}

export function rowsOf(g: GraphBuilder, layout: RowLayout): Rows {
  return layout === "packed" ? new PackedRows(g) : new PaddedRows(g);
}

/** Declares an input the first time it is asked for, so a graph takes only what it reads. */
function lazyInput(g: GraphBuilder, name: string, dims: (string | number)[]): () => string {
  let declared: string | null = null;
  return () => {
    declared ??= g.input(name, ElemType.INT64, dims);
    return declared;
  };
}

class PaddedRows implements Rows {
  readonly layout = "padded";
  readonly ids: string;
  readonly batchSeq: string;
  private readonly mask: string;
  readonly tokenTypes: () => string;

  constructor(private readonly g: GraphBuilder) {
    this.ids = g.input("input_ids", ElemType.INT64, ["batch", "sequence"]);
    this.mask = g.input("attention_mask", ElemType.INT64, ["batch", "sequence"]);
    this.tokenTypes = lazyInput(g, "token_type_ids", ["batch", "sequence"]);
    this.batchSeq = g.op("Shape", [this.ids]);
  }

  positions(): string {
    const g = this.g;
    const seq = g.op("Gather", [this.batchSeq, g.constInt64([1], true)]);
    return g.op("Unsqueeze", [
      g.op("Range", [g.constInt64([0], true), seq, g.constInt64([1], true)]),
      g.constInt64([0]),
    ]);
  }

  cumSumWithinRows(x: string): string {
    return this.g.op("CumSum", [x, this.g.constInt64([1], true)]);
  }

  /** [batch, 1, 1, sequence], as transformers adds it to the scores: (1 − mask) × FLOAT_MIN. */
  attentionMask(): string {
    const g = this.g;
    const maskF = g.op("Cast", [this.mask], { to: ElemType.FLOAT });
    const masked = g.op("Mul", [g.op("Sub", [g.constFloat(1), maskF]), g.constFloat(FLOAT_MIN)]);
    return g.op("Unsqueeze", [masked, g.constInt64([1, 2])]);
  }

  pairMask(): string {
    const g = this.g;
    const maskF = g.op("Cast", [this.mask], { to: ElemType.FLOAT });
    return g.op("Mul", [
      g.op("Unsqueeze", [maskF, g.constInt64([1, 3])]),
      g.op("Unsqueeze", [maskF, g.constInt64([1, 2])]),
    ]);
  }

  tokenMask(): string {
    const g = this.g;
    return g.op("Reshape", [g.op("Cast", [this.mask], { to: ElemType.FLOAT }), g.constInt64([-1, 1])]);
  }

  private perRow(x: string, hidden: number): string {
    const g = this.g;
    return g.op("Reshape", [x, g.op("Concat", [this.batchSeq, g.constInt64([hidden])], { axis: 0 })]);
  }

  firstTokens(x: string, hidden: number): string {
    return this.g.op("Gather", [this.perRow(x, hidden), this.g.constInt64([0], true)], { axis: 1 });
  }

  /** Real tokens only: the padding's vectors weigh 0. */
  meanOfRows(x: string, hidden: number): string {
    const g = this.g;
    const weights = g.op("Unsqueeze", [g.op("Cast", [this.mask], { to: ElemType.FLOAT }), g.constInt64([2])]);
    const axis = g.constInt64([1]);
    const sum = g.op("ReduceSum", [g.op("Mul", [this.perRow(x, hidden), weights]), axis], { keepdims: 0 });
    return g.op("Div", [sum, g.op("ReduceSum", [weights, axis], { keepdims: 0 })]);
  }

  rowOfToken(): null {
    return null;
  }

  attentionSoftmax(scores: string): string {
    return this.g.op("Softmax", [scores], { axis: -1 });
  }
}

class PackedRows implements Rows {
  readonly layout = "packed";
  readonly ids: string;
  readonly batchSeq: string;
  readonly tokenTypes: () => string;
  readonly positions: () => string;
  private readonly rowIds: () => string;
  private readonly rowStarts: () => string;
  private sameRow: string | null = null;

  constructor(private readonly g: GraphBuilder) {
    this.ids = g.input("input_ids", ElemType.INT64, [1, "tokens"]);
    this.tokenTypes = lazyInput(g, "token_type_ids", [1, "tokens"]);
    this.positions = lazyInput(g, "positions", [1, "tokens"]);
    this.rowIds = lazyInput(g, "row_ids", [1, "tokens"]);
    this.rowStarts = lazyInput(g, "row_starts", ["rows"]);
    this.batchSeq = g.op("Shape", [this.ids]);
  }

  rowOfToken(): string {
    return this.g.op("Squeeze", [this.rowIds(), this.g.constInt64([0])]);
  }

  /** The inclusive CumSum over all tokens less, for each token, the sum of the rows before its own. */
  cumSumWithinRows(x: string): string {
    const g = this.g;
    const inclusive = g.op("CumSum", [x, g.constInt64([1], true)]);
    // Exclusive: the sum of the tokens before each one (CumSum's `exclusive` attribute, spelt out).
    const before = g.op("Squeeze", [g.op("Sub", [inclusive, x]), g.constInt64([0])]);
    const startOfRow = g.op("Gather", [this.rowStarts(), this.rowIds()]);
    return g.op("Sub", [inclusive, g.op("Gather", [before, startOfRow])]);
  }

  /** [1, 1, T, T] booleans: query and key in one row (the block diagonal). */
  private sameRowPairs(): string {
    if (this.sameRow) return this.sameRow;
    const g = this.g;
    const rows = this.rowIds();
    const pairs = g.op("Equal", [
      g.op("Unsqueeze", [rows, g.constInt64([2])]),
      g.op("Unsqueeze", [rows, g.constInt64([1])]),
    ]);
    this.sameRow = g.op("Unsqueeze", [pairs, g.constInt64([1])]);
    return this.sameRow;
  }

  attentionMask(): string {
    const g = this.g;
    return g.op("Where", [this.sameRowPairs(), g.constFloat(0), g.constFloat(FLOAT_MIN)]);
  }

  pairMask(): string {
    return this.g.op("Cast", [this.sameRowPairs()], { to: ElemType.FLOAT });
  }

  tokenMask(): null {
    return null;
  }

  /**
   * exp(s − max) / Σ exp(s − max), the sum taken by CumSum: one add after another along the keys, so a
   * row's sum is the same float whatever rows sit before it (their keys add exact zeros). Softmax's
   * vectorised sum groups the keys by their offset in the packed axis, which moved a row's answer
   * by an ulp with its neighbours; a row answers the same packed with any others as alone.
   */
  attentionSoftmax(scores: string): string {
    const g = this.g;
    const last = g.constInt64([-1]);
    const exps = g.op("Exp", [g.op("Sub", [scores, g.op("ReduceMax", [scores], { axes: [-1], keepdims: 1 })])]);
    const running = g.op("CumSum", [exps, g.constInt64([-1], true)]);
    const sum = g.op("Slice", [running, last, g.constInt64([Number.MAX_SAFE_INTEGER]), last]);
    return g.op("Div", [exps, sum]);
  }

  firstTokens(x: string): string {
    return this.g.op("Gather", [x, this.rowStarts()], { axis: 0 });
  }

  /** One-hot [R, T] of each token's row, times x: each row's sum, over its token count. */
  meanOfRows(x: string): string {
    const g = this.g;
    const rowCount = g.op("Gather", [g.op("Shape", [this.rowStarts()]), g.constInt64([0], true)]);
    const rowIndex = g.op("Range", [g.constInt64([0], true), rowCount, g.constInt64([1], true)]);
    const oneHot = g.op("Cast", [g.op("Equal", [g.op("Unsqueeze", [rowIndex, g.constInt64([1])]), this.rowIds()])], {
      to: ElemType.FLOAT,
    });
    const counts = g.op("ReduceSum", [oneHot, g.constInt64([1])], { keepdims: 1 });
    return g.op("Div", [g.op("MatMul", [oneHot, x]), counts]);
  }
}
