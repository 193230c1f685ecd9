import type { FamilyTokenizer } from "./family-tokenizer.ts";

/** A row of token ids living in a SharedArrayBuffer: every model of a family reads the same memory. */
export interface RowRef {
  buffer: SharedArrayBuffer;
  /** Offset in Int32 elements. */
  offset: number;
  /** Ids this model uses (already truncated to its max length). */
  length: number;
}

/** One family's encodings of a request's texts, packed in one SharedArrayBuffer (rows are views into it). */
export interface PackedRows {
  buffer: SharedArrayBuffer;
  lengths: number[];
}

/** One family's encodings of a request's texts, in order, in one SharedArrayBuffer. */
export async function encodePacked(family: FamilyTokenizer, texts: string[]): Promise<PackedRows> {
  return pack(await Promise.all(texts.map((t) => family.encode(t))));
}

function pack(encodings: Int32Array[]): PackedRows {
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
