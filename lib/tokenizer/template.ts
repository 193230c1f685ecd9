import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { TokenizerFileError } from "./definition.ts";
import { describeUnsafe, unsafeTokenizerRegexes } from "./regex-safety.ts";

/** The special ids a tokenizer's template puts around a text, and its padding id. */
export interface SpecialTokens {
  pad: number;
  /** Before the text: <s>, [CLS]. */
  prefix: number[];
  /** After the text: </s>, [SEP]; kept when a text is truncated. */
  suffix: number[];
}

/** The special token named in tokenizer_config.json (a string, or an AddedToken object). */
function configToken(config: Record<string, unknown>, name: string): string | undefined {
  const v = config[name];
  return typeof v === "string" ? v : (v as { content?: string } | undefined)?.content;
}

/**
 * Loads a folder's tokenizer.json with Hugging Face's tokenizers, as transformers uses it: the file's
 * own truncation and padding are switched off (transformers sets them per call). A file that is not a
 * tokenizer, or whose regexes could abort the process (regex-safety.ts), throws TokenizerFileError
 * naming it: wherever it came from (a hand-placed file in an engines folder), it is never used.
 */
export function loadTokenizer(dir: string): Tokenizer {
  const file = join(dir, "tokenizer.json");
  const text = readFileSync(file, "utf8");
  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (e) {
    throw new TokenizerFileError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (definition === null || typeof definition !== "object" || Array.isArray(definition))
    throw new TokenizerFileError(file, "not a tokenizer definition (a JSON object)");
  const unsafe = unsafeTokenizerRegexes(definition as Record<string, unknown>);
  if (unsafe.length > 0) throw new TokenizerFileError(file, describeUnsafe(unsafe));
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromString(text);
  } catch (e) {
    throw new TokenizerFileError(file, `not a tokenizer the tokenizers library reads (${(e as Error).message})`);
  }
  tokenizer.disableTruncation();
  tokenizer.disablePadding();
  return tokenizer;
}

/** The template's special ids, read off the tokenizer itself (a text's special-tokens mask), and the pad id of tokenizer_config.json. */
export async function specialTokens(dir: string, tokenizer = loadTokenizer(dir)): Promise<SpecialTokens> {
  const configFile = join(dir, "tokenizer_config.json");
  const config = existsSync(configFile) ? JSON.parse(readFileSync(configFile, "utf8")) : {};
  // The config's pad token; without one, the usual names (RoBERTa-style, BERT-style).
  const named = configToken(config, "pad_token");
  const pad = (named ? [named] : ["<pad>", "[PAD]"])
    .map((t) => tokenizer.tokenToId(t))
    .find((id): id is number => id !== null);
  if (pad === undefined)
    throw new Error(`${dir}: the tokenizer has no id for its pad token (${named ?? "<pad>, [PAD]"})`);
  const probe = await tokenizer.encode("a");
  const ids = probe.getIds();
  const mask = probe.getSpecialTokensMask();
  let head = 0;
  while (head < mask.length && mask[head] === 1) head++;
  let tail = mask.length;
  while (tail > head && mask[tail - 1] === 1) tail--;
  return { pad, prefix: ids.slice(0, head), suffix: ids.slice(tail) };
}

/** The largest id the tokenizer can give (its vocabulary with the added tokens). */
export function largestTokenId(tokenizer: Tokenizer): number {
  let largest = -1;
  for (const id of Object.values(tokenizer.getVocab(true))) if (id > largest) largest = id;
  return largest;
}

/** A row of `length` ids the model accepts, for warm-up and smoke runs: the template's specials around ordinary ids. */
export function sampleRow(t: SpecialTokens, length: number): number[] {
  // A special id of the template other than pad: surely in the vocabulary (an id past the specials
  // may not be), and counted as a position (RoBERTa's positions skip pads, so a row of pads would not
  // reach the far end of the position table the warm-up at maximum length exists to test).
  const filler = [...t.prefix, ...t.suffix].find((id) => id !== t.pad) ?? t.pad;
  const middle = Math.max(0, length - t.prefix.length - t.suffix.length);
  return [...t.prefix, ...Array.from({ length: middle }, () => filler), ...t.suffix].slice(0, Math.max(1, length));
}
