/**
 * ../shared beside the repo (read-only fixtures): oracle checkpoints, tokenizers, real configs, corpora.
 * Only paths here: nothing is read at import, so a benchmark or the demo that needs no fixture runs without it.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const SHARED = resolve(process.env.SHARED_DIR ?? join(import.meta.dir, "..", "..", "shared"));
export const TOKENIZER_FIXTURES = join(SHARED, "fixtures", "tokenizers");
export const ORACLE = join(SHARED, "fixtures", "oracle");

/** A path under ../shared that must exist; the error says where it was looked for. */
export function sharedFile(...parts: string[]): string {
  const path = join(SHARED, ...parts);
  if (!existsSync(path)) throw new Error(`${path} not found: ../shared must sit beside the repo (or set SHARED_DIR)`);
  return path;
}
