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
