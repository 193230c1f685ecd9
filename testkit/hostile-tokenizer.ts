import { readFileSync, rmSync, writeFileSync } from "node:fs";

/** Exponential backtracking in Oniguruma: on BACKTRACKING_TEXT the tokenizers binding gives up and aborts the process. */
export const BACKTRACKING_REGEX = "(a+)+$";
/** 25 bytes: enough for BACKTRACKING_REGEX to exceed Oniguruma's retry limit. */
export const BACKTRACKING_TEXT = `${"a".repeat(24)}!`;

/**
 * Rewrites a real tokenizer.json with BACKTRACKING_REGEX added: a Split before its pre-tokenizer (in a
 * Sequence, as real tokenizers nest them), or a Replace before its normalizer.
 */
export function addBacktrackingRegex(file: string, where: "pre_tokenizer" | "normalizer") {
  const t = JSON.parse(readFileSync(file, "utf8"));
  const pattern = { Regex: BACKTRACKING_REGEX };
  if (where === "pre_tokenizer") {
    const split = { type: "Split", pattern, behavior: "Isolated", invert: false };
    t.pre_tokenizer = { type: "Sequence", pretokenizers: [split, ...(t.pre_tokenizer ? [t.pre_tokenizer] : [])] };
  } else {
    const replace = { type: "Replace", pattern, content: "a" };
    t.normalizer = { type: "Sequence", normalizers: [replace, ...(t.normalizer ? [t.normalizer] : [])] };
  }
  rmSync(file, { force: true }); // fixture copies keep the fixtures' read-only mode
  writeFileSync(file, JSON.stringify(t));
}
