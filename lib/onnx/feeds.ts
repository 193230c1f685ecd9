import * as ort from "onnxruntime-node";

/** What a classifier graph takes: its input names and their element type (engine.json's `onnx`). */
export interface InputSpec {
  inputs: string[];
  inputType: "int64" | "int32";
  padId: number;
}

/** Inputs this service knows how to fill; a graph asking for anything else is refused at convert. */
export const KNOWN_INPUTS = ["input_ids", "attention_mask", "token_type_ids"] as const;

/**
 * One padded [rows, longest] batch, exactly the inputs the graph declares: input_ids (padded with
 * the pad id), attention_mask (1 on real tokens), token_type_ids (each row's, as its tokenizer's
 * template assigns them to a text pair; 0 where a row has none, as for one text; 0 on padding).
 */
export function modelFeeds(
  rows: ArrayLike<number>[],
  spec: InputSpec,
  tokenTypes: (ArrayLike<number> | undefined)[] = [],
): Record<string, ort.Tensor> {
  const seq = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * seq).fill(spec.padId);
  const mask = new Int32Array(rows.length * seq);
  const types = new Int32Array(rows.length * seq);
  rows.forEach((r, b) => {
    const rowTypes = tokenTypes[b];
    for (let i = 0; i < r.length; i++) {
      ids[b * seq + i] = r[i];
      mask[b * seq + i] = 1;
      if (rowTypes) types[b * seq + i] = rowTypes[i];
    }
  });
  const dims = [rows.length, seq];
  const tensor = (values: Int32Array) =>
    spec.inputType === "int32"
      ? new ort.Tensor("int32", values, dims)
      : new ort.Tensor(
          "int64",
          BigInt64Array.from(values, (v) => BigInt(v)),
          dims,
        );
  const tensors: Record<string, () => ort.Tensor> = {
    input_ids: () => tensor(ids),
    attention_mask: () => tensor(mask),
    token_type_ids: () => tensor(types),
  };
  return Object.fromEntries(
    spec.inputs.map((name) => {
      const make = tensors[name];
      if (!make) throw new Error(`the graph takes an input named ${name}; only ${KNOWN_INPUTS.join(", ")} can be fed`);
      return [name, make()];
    }),
  );
}

/** The inputs a packed graph may declare (engine.json's onnx.packed.inputs; their meaning: convert/onnx/rows.ts). */
const PACKED_INPUTS = ["input_ids", "token_type_ids", "positions", "row_ids", "row_starts"] as const;

/**
 * One packed batch: the rows concatenated on one token axis of T tokens, no padding; each token's
 * type (0 where a row has none), its index in its row, its row; each row's first token. Only the
 * inputs the graph declares, all int64 ([1, T], row_starts [R]).
 */
export function packedFeeds(
  rows: ArrayLike<number>[],
  inputs: string[],
  tokenTypes: (ArrayLike<number> | undefined)[] = [],
): Record<string, ort.Tensor> {
  const total = rows.reduce((n, r) => n + r.length, 0);
  const ids = new BigInt64Array(total);
  const types = new BigInt64Array(total);
  const positions = new BigInt64Array(total);
  const rowIds = new BigInt64Array(total);
  const rowStarts = new BigInt64Array(rows.length);
  let at = 0;
  rows.forEach((r, row) => {
    rowStarts[row] = BigInt(at);
    const rowTypes = tokenTypes[row];
    for (let i = 0; i < r.length; i++, at++) {
      ids[at] = BigInt(r[i]);
      if (rowTypes) types[at] = BigInt(rowTypes[i]);
      positions[at] = BigInt(i);
      rowIds[at] = BigInt(row);
    }
  });
  const tokens = (values: BigInt64Array) => new ort.Tensor("int64", values, [1, total]);
  const tensors: Record<(typeof PACKED_INPUTS)[number], () => ort.Tensor> = {
    input_ids: () => tokens(ids),
    token_type_ids: () => tokens(types),
    positions: () => tokens(positions),
    row_ids: () => tokens(rowIds),
    row_starts: () => new ort.Tensor("int64", rowStarts, [rows.length]),
  };
  return Object.fromEntries(
    inputs.map((name) => {
      const make = tensors[name as (typeof PACKED_INPUTS)[number]];
      if (!make)
        throw new Error(`the packed graph takes an input named ${name}; only ${PACKED_INPUTS.join(", ")} can be fed`);
      return [name, make()];
    }),
  );
}
