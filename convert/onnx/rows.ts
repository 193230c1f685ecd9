/**
 * How a graph lays its batch's rows on the token axis, and what follows from it: each token's
 * position, where attention runs, which token a row is pooled from.
 *
 * Padded (model.onnx): `input_ids` and `attention_mask` [batch, sequence], each row padded to the
 * longest; the architecture's `token_type_ids` [batch, sequence] beside them.
 *
 * Packed (model.packed.onnx, engine.json's `onnx.packed`): the rows concatenated on one token axis
 * of T tokens, no pad tokens, so no compute is spent on padding. The graph declares only the inputs
 * it reads (engine.json's `onnx.packed.inputs` lists them), all int64:
 *   input_ids      [1, T]  the rows' tokens, one row after another
 *   token_type_ids [1, T]  each token's type, where the padded graph takes them (BERT, ELECTRA, DeBERTa with a type table)
 *   positions      [1, T]  each token's index in its row, from 0, where the architecture reads a position
 *                          table (BERT, DistilBERT, ELECTRA, DeBERTa with position_biased_input). RoBERTa and
 *                          XLM-R count theirs past padding_idx from the ids as transformers does; ModernBERT's
 *                          rotary angles and window, and DeBERTa's relative positions, come from the slot
 *                          of each token in its row (below): none of these takes it.
 *   row_ids        [1, T]  each token's row, 0 … R−1, rows in order
 *   row_starts     [R]     each row's first token (R = the number of rows)
 * and answers `logits` [R, labels], one row of logits per packed row, in row order.
 *
 * Everything done per token (embeddings, projections, feed-forward, norms: nearly all the compute)
 * runs on the T tokens. Attention alone runs per row: q, k and v are gathered into [R, longest row]
 * (zeros past each row's end, masked as keys), attended exactly as the padded graph attends, and
 * gathered back. So attention costs R × longest² rather than T², and a row's scores and softmax
 * see its keys at the same offsets as when it runs alone: a row answers the same float, packed with
 * any others or alone (its neighbours' keys never enter its sums, not even as zeros at other offsets).
 */
import { ElemType, type GraphBuilder } from "./graph.ts";

export type RowLayout = "padded" | "packed";

/** float32's lowest value: the additive mask transformers uses for keys a query may not see. */
export const FLOAT_MIN = -3.4028234663852886e38;

/** What an architecture asks of its rows' layout; x values are [tokens, hidden] (tokens = batch × sequence, or T). */
export interface Rows {
  /** input_ids: [batch, sequence], or [1, T]. */
  readonly ids: string;
  /** The token_type_ids input (declared on first use). */
  tokenTypes(): string;
  /** Each token's index in its row from 0, int64: [1, sequence] (broadcast over the batch), or [1, T]. */
  positions(): string;
  /** CumSum of x [batch, sequence] or [1, T] along each row, restarting at every row (RoBERTa's positions). */
  cumSumWithinRows(x: string): string;
  /** 1 on real tokens, [tokens, 1] float; null when every token is real (packed). */
  tokenMask(): string | null;
  /** The first token's vector of each row: [rows, hidden]. */
  firstTokens(x: string, hidden: number): string;
  /** The mean of each row's token vectors: [rows, hidden]. */
  meanOfRows(x: string, hidden: number): string;
  /** Where attention runs, per row (made once, shared by every layer). */
  attention(): AttentionRows;
}

/**
 * Attention's layout: rows of `longest` slots, [rows, longest], the padded graph's own, or the
 * packed tokens gathered into it. x values are [slots, width] as attention's reshapes take them.
 */
export interface AttentionRows {
  /** [rows, longest] as a shape tensor: what q, k and v reshape to per head. */
  batchSeq: string;
  /** Each slot's index in its row, [1, longest] int64 (rotary angles, sliding windows). */
  positions: string;
  /** Additive [rows, 1, 1, longest]: 0 on a row's tokens, FLOAT_MIN past its end. */
  keyMask: string;
  /** [rows, 1, longest, longest] float: 1 where query and key are both a row's tokens. */
  pairMask: string;
  /** [tokens, width] → [rows · longest, width], zeros past each row's end (padded: as it is). */
  toRows(x: string, width: number): string;
  /** [rows · longest, width] → [tokens, width] (padded: as it is). */
  fromRows(x: string): string;
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
  readonly ids: string;
  private readonly batchSeq: string;
  private readonly mask: string;
  readonly tokenTypes: () => string;
  private attentionRows: AttentionRows | null = null;

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

  /** The batch as it is; masks as transformers builds them from attention_mask. */
  attention(): AttentionRows {
    this.attentionRows ??= {
      batchSeq: this.batchSeq,
      positions: this.positions(),
      ...maskedKeys(this.g, this.g.op("Cast", [this.mask], { to: ElemType.FLOAT })),
      toRows: (x) => x,
      fromRows: (x) => x,
    };
    return this.attentionRows;
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
}

/** From a [rows, longest] float mask of real slots: the additive key mask and the query-key pair mask. */
function maskedKeys(g: GraphBuilder, maskF: string): Pick<AttentionRows, "keyMask" | "pairMask"> {
  const masked = g.op("Mul", [g.op("Sub", [g.constFloat(1), maskF]), g.constFloat(FLOAT_MIN)]);
  return {
    keyMask: g.op("Unsqueeze", [masked, g.constInt64([1, 2])]),
    pairMask: g.op("Mul", [
      g.op("Unsqueeze", [maskF, g.constInt64([1, 3])]),
      g.op("Unsqueeze", [maskF, g.constInt64([1, 2])]),
    ]),
  };
}

class PackedRows implements Rows {
  readonly ids: string;
  readonly tokenTypes: () => string;
  readonly positions: () => string;
  private readonly rowIds: () => string;
  private readonly rowStarts: () => string;
  private attentionRows: AttentionRows | null = null;
  /** [rows, longest] float: 1 on a row's slots that hold its tokens. */
  private slotMask = "";

  constructor(private readonly g: GraphBuilder) {
    this.ids = g.input("input_ids", ElemType.INT64, [1, "tokens"]);
    this.tokenTypes = lazyInput(g, "token_type_ids", [1, "tokens"]);
    this.positions = lazyInput(g, "positions", [1, "tokens"]);
    this.rowIds = lazyInput(g, "row_ids", [1, "tokens"]);
    this.rowStarts = lazyInput(g, "row_starts", ["rows"]);
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

  /**
   * Slot (r, j) holds row r's token j, or (past the row's end) the zero vector appended after the T
   * tokens; token t goes back from slot row_ids[t] × longest + (t − its row's start).
   */
  attention(): AttentionRows {
    if (this.attentionRows) return this.attentionRows;
    const g = this.g;
    const one = g.constInt64([1], true);
    const starts = this.rowStarts();
    const tokens = g.op("Gather", [g.op("Shape", [this.ids]), one]);
    const ends = g.op("Concat", [this.slice(starts, 1), g.op("Unsqueeze", [tokens, g.constInt64([0])])], { axis: 0 });
    const lengths = g.op("Sub", [ends, starts]);
    const longest = g.op("ReduceMax", [lengths], { keepdims: 1 });
    const slot = g.op("Range", [g.constInt64([0], true), g.op("Squeeze", [longest, g.constInt64([0])]), one]);
    const slotRow = g.op("Unsqueeze", [slot, g.constInt64([0])]);
    const real = g.op("Less", [slotRow, g.op("Unsqueeze", [lengths, g.constInt64([1])])]);
    const token = g.op("Add", [g.op("Unsqueeze", [starts, g.constInt64([1])]), slotRow]);
    const gather = g.op("Reshape", [g.op("Where", [real, token, tokens]), g.constInt64([-1])]);
    const rowIds = g.op("Squeeze", [this.rowIds(), g.constInt64([0])]);
    const index = g.op("Range", [g.constInt64([0], true), tokens, one]);
    const inRow = g.op("Sub", [index, g.op("Gather", [starts, rowIds])]);
    const back = g.op("Add", [g.op("Mul", [rowIds, longest]), inRow]);
    this.slotMask = g.op("Cast", [real], { to: ElemType.FLOAT });
    this.attentionRows = {
      batchSeq: g.op("Concat", [g.op("Shape", [starts]), longest], { axis: 0 }),
      positions: slotRow,
      ...maskedKeys(g, this.slotMask),
      toRows: (x, width) => {
        const zero = g.op("Reshape", [g.constFloats(new Array(width).fill(0)), g.constInt64([1, width])]);
        return g.op("Gather", [g.op("Concat", [x, zero], { axis: 0 }), gather], { axis: 0 });
      },
      fromRows: (x) => g.op("Gather", [x, back], { axis: 0 }),
    };
    return this.attentionRows;
  }

  private slice(x: string, from: number): string {
    const g = this.g;
    return g.op("Slice", [x, g.constInt64([from]), g.constInt64([Number.MAX_SAFE_INTEGER]), g.constInt64([0])]);
  }

  tokenMask(): null {
    return null;
  }

  firstTokens(x: string): string {
    return this.g.op("Gather", [x, this.rowStarts()], { axis: 0 });
  }

  /** Each row's tokens gathered into its slots (zeros past its end), summed, over its token count: as padded. */
  meanOfRows(x: string, hidden: number): string {
    const g = this.g;
    const A = this.attention();
    const rows = g.op("Reshape", [
      A.toRows(x, hidden),
      g.op("Concat", [A.batchSeq, g.constInt64([hidden])], { axis: 0 }),
    ]);
    const real = g.op("Unsqueeze", [this.slotMask, g.constInt64([2])]);
    const axis = g.constInt64([1]);
    const sum = g.op("ReduceSum", [g.op("Mul", [rows, real]), axis], { keepdims: 0 });
    return g.op("Div", [sum, g.op("ReduceSum", [real, axis], { keepdims: 0 })]);
  }
}
