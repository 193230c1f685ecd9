/**
 * A tokenizer process that loads tokenizer.json files without the regex check (loadTokenizer's), so
 * a test can run a tokenizer that really panics and see what the service does when the check misses
 * one. A harness entry: the service's own (app/tokenize/tokenizer-process.ts) always checks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { FamilyTokenizer } from "../app/tokenize/family-tokenizer.ts";
import { serveTokenizers } from "../app/tokenize/serve-tokenizers.ts";

serveTokenizers((r) => {
  const tokenizer = Tokenizer.fromString(readFileSync(join(r.dir, "tokenizer.json"), "utf8"));
  tokenizer.disableTruncation();
  tokenizer.disablePadding();
  return FamilyTokenizer.over(r.id, r.dir, tokenizer, r.maxLength);
});
