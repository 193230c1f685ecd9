import type { FamilyEncodings } from "./tokenizer-protocol.ts";
import type { EncodedRow, TextSpan } from "./truncation.ts";

/** A row of token ids living in a SharedArrayBuffer: every model of a family reads the same memory. */
export interface RowRef {
  buffer: SharedArrayBuffer;
  /** Offset in Int32 elements. */
  offset: number;
  /** Ids this model uses (already truncated to its max length). */
  length: number;
  /** Offset of its token type ids (as many as ids) in the same buffer; without it, all 0. */
  types?: number;
  /** Where its texts lie, for a model that cuts it shorter; a warm-up row has none. */
  spans?: TextSpan[];
}

/** A row as the tokenizer packed it: its token types and texts always known. */
export type PackedRow = Required<RowRef>;

/**
 * One family's encodings of a request's texts, copied into one SharedArrayBuffer that its models'
 * workers read: every row's ids, then every row's token type ids.
 */
export function sharedRows(encodings: FamilyEncodings): PackedRow[] {
  const total = encodings.ids.length;
  const buffer = new SharedArrayBuffer(total * 2 * 4);
  new Int32Array(buffer).set(encodings.ids);
  new Int32Array(buffer).set(encodings.typeIds, total);
  let offset = 0;
  return encodings.lengths.map((length, i) => {
    const row = { buffer, offset, length, types: total + offset, spans: encodings.spans[i] };
    offset += length;
    return row;
  });
}

/** A row's ids and token type ids, read in place. */
export function rowView(row: PackedRow): EncodedRow {
  return {
    ids: new Int32Array(row.buffer, row.offset * 4, row.length),
    typeIds: new Int32Array(row.buffer, row.types * 4, row.length),
    spans: row.spans,
  };
}

/** A row of its own memory (a model cut it shorter than its family's). */
export function packRow(row: EncodedRow): PackedRow {
  const length = row.ids.length;
  const buffer = new SharedArrayBuffer(length * 2 * 4);
  new Int32Array(buffer).set(row.ids);
  new Int32Array(buffer).set(row.typeIds, length);
  return { buffer, offset: 0, length, types: length, spans: row.spans };
}
