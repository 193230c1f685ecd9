import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "tokenizers";
import { loadTokenizer, specialTokens } from "../../lib/tokenizer/template.ts";

/** Characters first tried for a long text; the window doubles until its prefix yields maxLength ids. */
const FIRST_WINDOW = 4096;

/**
 * Pre-tokenizers for which a plain space after a non-space character always ends a pre-token, and
 * normalizers that never join characters across such a space: with both, the pre-tokens (hence the
 * ids) before the space are the same in a prefix as in the whole text. Anything else is tokenized
 * whole.
 */
const CUT_SAFE_PRE_TOKENIZERS = new Set([
  "Metaspace",
  "ByteLevel",
  "BertPreTokenizer",
  "Whitespace",
  "WhitespaceSplit",
]);
const CUT_SAFE_NORMALIZERS = new Set([
  "NFC",
  "NFD",
  "NFKC",
  "NFKD",
  "Lowercase",
  "StripAccents",
  "BertNormalizer",
  "Precompiled",
  "Prepend",
]);

interface Component {
  type: string;
  pretokenizers?: Component[];
  normalizers?: Component[];
  pattern?: { String?: string; Regex?: string };
}

/** Whether cutting a long text at a space that follows a non-space character cannot change its ids (see above). */
export function cutIsExact(definition: { normalizer?: Component | null; pre_tokenizer?: Component | null }): boolean {
  const parts = (c: Component | null | undefined, key: "pretokenizers" | "normalizers"): Component[] =>
    !c ? [] : c.type === "Sequence" ? (c[key] ?? []).flatMap((p) => parts(p, key)) : [c];
  const pre = parts(definition.pre_tokenizer, "pretokenizers");
  const norms = parts(definition.normalizer, "normalizers");
  // Replace is safe when what it matches is made of spaces only (XLM-R's " {2,}" → " "): the cut keeps no space.
  const spacesOnly = (c: Component) => /^[ {},0-9+*]+$/.test(c.pattern?.String ?? c.pattern?.Regex ?? "x");
  return (
    pre.length > 0 &&
    pre.every((p) => CUT_SAFE_PRE_TOKENIZERS.has(p.type)) &&
    norms.every((n) => CUT_SAFE_NORMALIZERS.has(n.type) || (n.type === "Replace" && spacesOnly(n)))
  );
}

/**
 * One tokenizer family (models sharing one tokenizer definition), on Hugging Face's own tokenizers
 * (the Rust library Python's transformers uses, through its official Node binding): each text is
 * encoded once here, off the JS thread (the binding encodes on a native thread pool), and each model
 * truncates the result to its own length. Local files only.
 */
export class FamilyTokenizer {
  private constructor(
    readonly id: string,
    private readonly tokenizer: Tokenizer,
    /** The longest encoding any member needs. */
    readonly maxLength: number,
    readonly padId: number,
    /** The special ids the template appends after the text (</s>, [SEP]): kept when a text is truncated. */
    readonly suffix: Int32Array,
    private readonly cutIsExact: boolean,
  ) {}

  static async load(id: string, dir: string, maxLength: number): Promise<FamilyTokenizer> {
    const definition = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const tokenizer = loadTokenizer(dir);
    const specials = await specialTokens(dir, tokenizer);
    return new FamilyTokenizer(
      id,
      tokenizer,
      maxLength,
      specials.pad,
      Int32Array.from(specials.suffix),
      cutIsExact(definition),
    );
  }

  /**
   * The ids a model sees, as transformers gives them with truncation=True: the template's special
   * tokens around the text, the text's end cut to fit maxLength. Texts that are not well-formed
   * UTF-16 (lone surrogates) are made so first, each lone surrogate becoming U+FFFD.
   * Only a prefix of a long text is tokenized when that cannot change the ids (see cutIsExact): it
   * ends where a space follows a non-space character, and is used once it yields maxLength ids.
   */
  async encode(text: string): Promise<Int32Array> {
    const wellFormed = text.toWellFormed();
    if (this.cutIsExact)
      for (let window = FIRST_WINDOW; window < wellFormed.length; window *= 2) {
        const cut = safeCut(wellFormed, window);
        if (cut < 0) continue;
        const ids = await this.ids(wellFormed.slice(0, cut));
        if (ids.length >= this.maxLength) return truncate(ids, this.maxLength, this.suffix);
      }
    return truncate(await this.ids(wellFormed), this.maxLength, this.suffix);
  }

  /** The whole text, untruncated: what `encode` must agree with (tests, token-length tables). */
  encodeFull(text: string): Promise<Int32Array> {
    return this.ids(text.toWellFormed());
  }

  /** The token string of each id, for debugging (/tokenize). */
  tokenStrings(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.tokenizer.idToToken(id) ?? "");
  }

  private async ids(text: string): Promise<Int32Array> {
    return Int32Array.from((await this.tokenizer.encode(text)).getIds());
  }
}

const WHITESPACE = /\s/;

/** The last position in (window/2, window] holding a space that follows a non-space character, or -1. */
export function safeCut(text: string, window: number): number {
  for (let i = Math.min(window, text.length - 1); i > window / 2; i--)
    if (text.charCodeAt(i) === 32 && !WHITESPACE.test(text[i - 1])) return i;
  return -1;
}

/**
 * Keeps the first ids and the template's trailing special tokens within maxLength, as the Rust
 * tokenizer's truncation does for one sequence; a view, not a copy, when nothing is cut.
 */
export function truncate(ids: Int32Array, maxLength: number, suffix: Int32Array): Int32Array {
  if (ids.length <= maxLength) return ids;
  const out = new Int32Array(maxLength);
  out.set(ids.subarray(0, maxLength - suffix.length));
  out.set(suffix, maxLength - suffix.length);
  return out;
}
