import type { FamilyEncodings } from "./tokenizer-protocol.ts";

/** A row of token ids living in a SharedArrayBuffer: every model of a family reads the same memory. */
export interface RowRef {
  buffer: SharedArrayBuffer;
  /** Offset in Int32 elements. */
  offset: number;
  /** Ids this model uses (already truncated to its max length). */
  length: number;
}

/** One family's encodings of a request's texts, copied into one SharedArrayBuffer that its models' workers read. */
export function sharedRows(encodings: FamilyEncodings): RowRef[] {
  const buffer = new SharedArrayBuffer(encodings.ids.length * 4);
  new Int32Array(buffer).set(encodings.ids);
  let offset = 0;
  return encodings.lengths.map((length) => {
    const row = { buffer, offset, length };
    offset += length;
    return row;
  });
}
