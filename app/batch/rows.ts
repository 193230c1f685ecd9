/**
 * One input row checked before anything is done with it (pure): what can be classified becomes a
 * text or a pair, what cannot becomes an error line with its row number and why. The service refuses
 * the same things in a request (a text that is not a string, longer than MAX_TEXT_CHARS); here one
 * bad row costs only itself.
 */
import type { TextInput } from "../tokenize/tokenizer-protocol.ts";

/**
 * A row as the reader gives it: each field as text, and its kind as DuckDB names it (VARCHAR,
 * BIGINT, OBJECT, ...; "NULL" for a null value; null when the field is absent).
 */
export interface SourceRow {
  /** 0-based position among the input's records (a CSV's header not counted). */
  row: number;
  id: string | null;
  idKind: string | null;
  text: string | null;
  textKind: string | null;
  pair: string | null;
  pairKind: string | null;
  /** A JSON line's own kind (OBJECT for a record; null for a line that is not JSON); absent for a CSV's or Parquet's rows. */
  recordKind?: string | null;
}

export type CheckedRow =
  | { row: number; id: string; input: TextInput }
  | { row: number; id: string | null; reason: string };

/** A row of the errors file. */
export interface RowError {
  row: number;
  id: string | null;
  reason: string;
}

/** Kinds that are not one value: an id of these cannot be written back as a key. */
const NESTED = /^(OBJECT|ARRAY|STRUCT|MAP|UNION)\b|\[\d*\]$/;

function idProblem(id: string | null, kind: string | null): string | null {
  if (kind === null || kind === "NULL" || id === null) return "id is missing";
  if (NESTED.test(kind)) return `id is not a string or a number (${kind})`;
  if (id === "") return "id is empty";
  return null;
}

function textProblem(name: string, value: string | null, kind: string | null, maxTextChars: number): string | null {
  if (kind === null || kind === "NULL" || value === null) return `${name} is missing`;
  if (kind !== "VARCHAR") return `${name} is not a string (${kind})`;
  if (value.length > maxTextChars)
    return `${name} has ${value.length} characters; the limit is ${maxTextChars} (MAX_TEXT_CHARS)`;
  return null;
}

function recordProblem(kind: string | null | undefined): string | null {
  if (kind === undefined || kind === "OBJECT") return null;
  return kind === null ? "the line is not valid JSON" : `the line is a JSON ${kind}, not an object`;
}

/** The row's text (or pair) to classify, or why it cannot be. `pair`: whether a pair column was given. */
export function checkRow(r: SourceRow, pair: boolean, maxTextChars: number): CheckedRow {
  const problem =
    recordProblem(r.recordKind) ??
    idProblem(r.id, r.idKind) ??
    textProblem("text", r.text, r.textKind, maxTextChars) ??
    (pair ? textProblem("text_pair", r.pair, r.pairKind, maxTextChars) : null);
  const id = r.id !== null && r.idKind !== "NULL" ? r.id : null;
  if (problem !== null || id === null || r.text === null) return { row: r.row, id, reason: problem ?? "unreadable" };
  return { row: r.row, id, input: pair && r.pair !== null ? { text: r.text, text_pair: r.pair } : r.text };
}

/** Whether the row belongs to the shard: row number mod N is i (every shard reads the same input). */
export const inShard = (row: number, shard: { index: number; count: number }) => row % shard.count === shard.index;

/** How many of a table's `total` rows are in the shard (those inShard takes). */
export const shardSize = (total: number, shard: { index: number; count: number }) =>
  total > shard.index ? Math.floor((total - 1 - shard.index) / shard.count) + 1 : 0;
