import type { RowRef } from "../inference/protocol.ts";
import type { FamilyTokenizer } from "./family-tokenizer.ts";

/** One family's encodings of a request's texts, packed in one SharedArrayBuffer (rows are views into it). */
export interface PackedRows {
  buffer: SharedArrayBuffer;
  lengths: number[];
}

/** `cancelled` is asked before each text: a request abandoned mid-way stops costing CPU. */
export function encodePacked(
  family: FamilyTokenizer,
  texts: string[],
  cancelled: () => boolean = () => false,
): PackedRows {
  const encodings = texts.map((t) => {
    if (cancelled()) throw new Error("cancelled: the request was abandoned");
    return family.encode(t);
  });
  const buffer = new SharedArrayBuffer(encodings.reduce((n, e) => n + e.length, 0) * 4);
  const all = new Int32Array(buffer);
  let offset = 0;
  for (const e of encodings) {
    all.set(e, offset);
    offset += e.length;
  }
  return { buffer, lengths: encodings.map((e) => e.length) };
}

export function rowsOf(packed: PackedRows): RowRef[] {
  let offset = 0;
  return packed.lengths.map((length) => {
    const row = { buffer: packed.buffer, offset, length };
    offset += length;
    return row;
  });
}
