import { readFileSync } from "node:fs";

/**
 * The tokenizer definition's hash, shared by convert (which records it in engine.json) and the
 * service (which checks the store's tokenizer.json against it at start).
 */

/** The parts of tokenizer.json that decide the ids of a text (not the decoder, nor truncation or padding). */
const DEFINITION_PARTS = ["normalizer", "pre_tokenizer", "model", "post_processor", "added_tokens"] as const;

/** A tokenizer.json that cannot be read as one: names the file. */
export class TokenizerFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "TokenizerFileError";
  }
}

const sha256 = (data: Uint8Array | string): string => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** A JSON number kept as written: two files are the same definition only if their numbers are spelled alike. */
class NumberText {
  constructor(readonly text: string) {}
}

/** Sorted keys, numbers as written in the file (Rust's float parser may read a spelling differently from JSON.parse). */
function canonical(v: unknown): string {
  if (v instanceof NumberText) return v.text;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

const definitionsByBytes = new Map<string, string>();

/**
 * The hash of what decides a text's ids: the normalizer, pre-tokenizer, model, post-processor and
 * added tokens of a tokenizer.json, in canonical form. Equal hashes tokenize every text alike.
 * A file that is not a JSON object throws TokenizerFileError.
 */
export function definitionHash(file: string): string {
  const bytes = readFileSync(file);
  // Parsing with the numbers' text costs about a second for XLM-R's 250k pieces: once per distinct file.
  const key = sha256(bytes);
  const known = definitionsByBytes.get(key);
  if (known) return known;
  let parsed: unknown;
  try {
    const reviver = (_key: string, value: unknown, context?: { source?: string }) =>
      typeof value === "number" && context?.source !== undefined ? new NumberText(context.source) : value;
    parsed = JSON.parse(bytes.toString("utf8"), reviver as (key: string, value: unknown) => unknown);
  } catch (e) {
    throw new TokenizerFileError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new TokenizerFileError(file, "not a tokenizer definition (a JSON object)");
  const o = parsed as Record<string, unknown>;
  const hash = sha256(canonical(Object.fromEntries(DEFINITION_PARTS.map((p) => [p, o[p] ?? null]))));
  definitionsByBytes.set(key, hash);
  return hash;
}
