/**
 * Tables in and out through DuckDB (JSONL, CSV, Parquet): the input streamed in DuckDB's chunks of
 * rows, never whole in memory; the output assembled from the committed part files in one COPY. The
 * SQL names files and columns only as quoted literals and identifiers.
 */
import { renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { TableFormat } from "./args.ts";
import type { SourceRow } from "./rows.ts";

export interface TableFile {
  path: string;
  format: TableFormat;
}

/** The input's columns the job reads (the pair's is optional). */
export interface InputColumns {
  id: string;
  text: string;
  pair: string | null;
}

/** A column of the output and its DuckDB type. */
export interface OutputColumn {
  name: string;
  type: string;
}

/** DuckDB reads no CSV line longer (2 MB by default): a text past MAX_TEXT_CHARS must still be read to be reported. */
const MAX_CSV_LINE_BYTES = 64 * 1024 * 1024;

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
const identifier = (s: string) => `"${s.replaceAll('"', '""')}"`;

function source(input: TableFile): string {
  const path = literal(input.path);
  // A line that is not JSON is read as a NULL record, in its place, so that it is an error row (rows.ts), not the end of the run.
  if (input.format === "jsonl") return `read_ndjson_objects(${path}, ignore_errors = true)`;
  // Every cell as text; a bare empty cell is missing (NULL), a quoted "" the empty string.
  if (input.format === "csv")
    return `read_csv(${path}, header = true, all_varchar = true, allow_quoted_nulls = false, max_line_size = ${MAX_CSV_LINE_BYTES})`;
  return `read_parquet(${path})`;
}

/** A field's value as text and its kind ("NULL" for null; NULL when a JSON record lacks it). */
function field(input: TableFile, name: string): [value: string, kind: string] {
  if (input.format === "jsonl") {
    // A JSON pointer: any key, "~" and "/" escaped.
    const pointer = literal(`/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`);
    return [`json_extract_string(json, ${pointer})`, `json_type(json, ${pointer})`];
  }
  const col = identifier(name);
  return [`CAST(${col} AS VARCHAR)`, `CASE WHEN ${col} IS NULL THEN 'NULL' ELSE typeof(${col}) END`];
}

/** DuckDB in this process: one thread, so that reading never takes a core from inference; nothing fetched. */
export async function openTables(): Promise<Tables> {
  const instance = await DuckDBInstance.create(":memory:", {
    threads: "1",
    autoinstall_known_extensions: "false",
    // Where it spills if it must: beside the system's temporary files, one folder per process (the
    // working directory may be read-only, as in the image).
    temp_directory: join(tmpdir(), `classify-duckdb-${process.pid}`),
    // The rows come out in the file's order: row numbers, shards and chunks depend on it.
    preserve_insertion_order: "true",
  });
  return new Tables(instance, await instance.connect());
}

export class Tables {
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
  ) {}

  /** The input's column names (CSV, Parquet); null for JSONL, whose records each have their own. */
  async columnNames(input: TableFile): Promise<string[] | null> {
    if (input.format === "jsonl") return null;
    const described = await this.db.runAndReadAll(`DESCRIBE SELECT * FROM ${source(input)}`);
    return described.getRowObjectsJS().map((r) => String(r.column_name));
  }

  async countRows(input: TableFile): Promise<number> {
    const counted = await this.db.runAndReadAll(`SELECT count(*) AS n FROM ${source(input)}`);
    return Number(counted.getRowObjectsJS()[0].n);
  }

  /** The input's rows in file order, numbered from 0, a DuckDB chunk (about 2,048 rows) at a time. */
  async *rows(input: TableFile, columns: InputColumns): AsyncGenerator<SourceRow[]> {
    const fields = [columns.id, columns.text, ...(columns.pair ? [columns.pair] : [])].flatMap((c) => field(input, c));
    // A JSON line's own kind (OBJECT, ARRAY, ...; NULL when it is not JSON) last, after the fields.
    const record = input.format === "jsonl" ? ["json_type(json)"] : [];
    const recordAt = fields.length;
    const result = await this.db.stream(`SELECT ${[...fields, ...record].join(", ")} FROM ${source(input)}`);
    let row = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) return;
      const values = fields.map((_, i) => chunk.getColumnValues(i) as (string | null)[]);
      const at = (column: number, r: number) => (column < values.length ? values[column][r] : null);
      const kinds = record.length > 0 ? (chunk.getColumnValues(recordAt) as (string | null)[]) : null;
      yield Array.from({ length: chunk.rowCount }, (_, r) => ({
        row: row + r,
        id: at(0, r),
        idKind: at(1, r),
        text: at(2, r),
        textKind: at(3, r),
        pair: at(4, r),
        pairKind: at(5, r),
        ...(kinds ? { recordKind: kinds[r] } : {}),
      }));
      row += chunk.rowCount;
    }
  }

  /**
   * Writes `out` from the JSON-lines part files, in their order, with these columns; written beside
   * and renamed, so `out` is either whole or absent. In a CSV, nested values (a model's answer) are
   * their JSON text.
   */
  async write(parts: string[], columns: OutputColumn[], out: TableFile) {
    const schema = `{${columns.map((c) => `${literal(c.name)}: ${literal(c.type)}`).join(", ")}}`;
    const nested = (c: OutputColumn) => out.format === "csv" && /STRUCT|\[\]/.test(c.type);
    const select = columns
      .map((c) => (nested(c) ? `to_json(${identifier(c.name)}) AS ${identifier(c.name)}` : identifier(c.name)))
      .join(", ");
    const from =
      parts.length > 0
        ? `read_json([${parts.map(literal).join(", ")}], format = 'newline_delimited', columns = ${schema})`
        : `(SELECT ${columns.map((c) => `NULL::${c.type} AS ${identifier(c.name)}`).join(", ")} WHERE false)`;
    const format = { jsonl: "FORMAT json", csv: "FORMAT csv, HEADER true", parquet: "FORMAT parquet" }[out.format];
    const written = `${out.path}.writing`;
    await this.db.run(`COPY (SELECT ${select} FROM ${from}) TO ${literal(written)} (${format})`);
    renameSync(written, out.path);
  }

  close() {
    this.db.closeSync();
    this.instance.closeSync();
  }
}
