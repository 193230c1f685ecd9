/**
 * `bun run classify`'s flags, parsed and checked before anything loads (pure: unit-tested). The Helm
 * chart's batch Job passes these same names.
 */
import { extname, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { TopK } from "../scoring.ts";

/** The table formats read and written, named by the file's extension. */
export type TableFormat = "jsonl" | "csv" | "parquet";

const FORMATS: Record<string, TableFormat> = { ".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet" };

export interface Shard {
  index: number;
  count: number;
}

export interface BatchArgs {
  input: { path: string; format: TableFormat };
  output: { path: string; format: TableFormat };
  errors: { path: string; format: TableFormat };
  columns: { text: string; pair: string | null; id: string };
  /** Only these models answer, in the service's order; null: the default fan-out (as a bare /process). */
  models: string[] | null;
  /** The engines folder; null: ENGINES_DIR (the service's setting). */
  engines: string | null;
  shard: Shard;
  topK: TopK;
  rawScores: boolean;
  chunkRows: number;
}

/** A flag missing or wrong: the run does not start (exit 2, with USAGE). */
export class UsageError extends Error {}

/** Rows classified and committed together: what a kill can lose, and how far the length sort reaches. */
const DEFAULT_CHUNK_ROWS = 1024;

export const USAGE = `bun run classify --input FILE --output FILE [options]

Classifies every row of a table with the service's models, offline: the same engines, tokenizers,
workers, batching and scores as POST /process, without HTTP. Formats by extension: .jsonl, .csv, .parquet.
Run again with the same arguments after a stop or a kill: it continues from the last committed chunk.

  --input FILE         the rows to classify
  --output FILE        one row per input row: the id and each model's answer as /process gives it
  --text-column NAME   the text (default: text)
  --pair-column NAME   a second text read with it as a pair ({"text", "text_pair"}; default: none)
  --id-column NAME     kept in the output under the same name (default: id)
  --models a,b         only these models answer (default: the default fan-out, as a bare /process)
  --engines DIR        the engines folder (default: $ENGINES_DIR, as the service)
  --shard i/N          only the rows whose 0-based number mod N is i (default: 0/1, every row)
  --top-k K            each model's K best labels, or "all" (/process's top_k; default: the top label)
  --raw-scores         the logits as scores (/process's raw_scores)
  --errors FILE        rows that cannot be classified, with their row number and why
                       (default: OUTPUT.errors.jsonl)
  --chunk-rows N       rows classified and committed together (default: ${DEFAULT_CHUNK_ROWS})

The service's settings (WORKERS_PER_MODEL, TOKENIZER_PROCESSES, MAX_TEXT_CHARS, batch limits, ...)
are read from the environment as the service reads them.

Exit codes: 0 every row classified; 3 finished, some rows went to the errors file; 1 failed
(committed chunks are kept: run again to continue); 2 wrong flags, settings, or a state file of
another job beside the output.`;

function tableFile(flag: string, path: string): { path: string; format: TableFormat } {
  const format = FORMATS[extname(path).toLowerCase()];
  if (!format) throw new UsageError(`${flag} ${path}: the extension must be .jsonl, .csv or .parquet`);
  return { path, format };
}

/** `i/N`, 0 ≤ i < N. */
function parseShard(raw: string): Shard {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(raw);
  const shard = m ? { index: Number(m[1]), count: Number(m[2]) } : null;
  if (!shard || shard.count < 1 || shard.index >= shard.count)
    throw new UsageError(`--shard must be i/N with 0 ≤ i < N (e.g. 0/4), got "${raw}"`);
  return shard;
}

/** As /process's top_k: a positive integer or "all"; absent, the top label alone. */
function parseTopK(raw: string | undefined): TopK {
  if (raw === undefined) return { kind: "top" };
  if (raw === "all") return { kind: "ranked", k: "all" };
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`--top-k must be a positive integer or "all", got "${raw}"`);
  return { kind: "ranked", k: Number(raw) };
}

function parseChunkRows(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_CHUNK_ROWS;
  const n = Number(raw);
  if (!/^\d{1,7}$/.test(raw) || n < 1 || n > 1_000_000)
    throw new UsageError(`--chunk-rows must be an integer from 1 to 1000000, got "${raw}"`);
  return n;
}

function parseModels(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const keys = raw.split(",").map((k) => k.trim());
  if (keys.some((k) => k === "")) throw new UsageError(`--models must be model keys separated by commas, got "${raw}"`);
  return keys;
}

const OPTIONS = {
  input: { type: "string" },
  output: { type: "string" },
  "text-column": { type: "string", default: "text" },
  "pair-column": { type: "string" },
  "id-column": { type: "string", default: "id" },
  models: { type: "string" },
  engines: { type: "string" },
  shard: { type: "string", default: "0/1" },
  "top-k": { type: "string" },
  "raw-scores": { type: "boolean", default: false },
  errors: { type: "string" },
  "chunk-rows": { type: "string" },
  help: { type: "boolean", default: false },
} as const;

/** The flags, checked; null when --help was asked. */
export function parseBatchArgs(argv: string[]): BatchArgs | null {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  if (!values.input) throw new UsageError("--input FILE is required");
  if (!values.output) throw new UsageError("--output FILE is required");
  const files = [values.input, values.output, values.errors ?? `${values.output}.errors.jsonl`].map((p) => resolve(p));
  if (new Set(files).size !== 3) throw new UsageError("--input, --output and --errors must be different files");
  const columns = { text: values["text-column"], pair: values["pair-column"] ?? null, id: values["id-column"] };
  if (new Set([columns.text, columns.pair ?? columns.text, columns.id]).size !== (columns.pair ? 3 : 2))
    throw new UsageError("--text-column, --pair-column and --id-column must name different columns");
  return {
    input: tableFile("--input", values.input),
    output: tableFile("--output", values.output),
    errors: tableFile("--errors", values.errors ?? `${values.output}.errors.jsonl`),
    columns,
    models: parseModels(values.models),
    engines: values.engines ?? null,
    shard: parseShard(values.shard),
    topK: parseTopK(values["top-k"]),
    rawScores: values["raw-scores"],
    chunkRows: parseChunkRows(values["chunk-rows"]),
  };
}
