import type { Tokenizer } from "tokenizers";
import { largestTokenId, loadTokenizer, specialTokens } from "../../lib/tokenizer/template.ts";
import type { FamilyInfo } from "./tokenizer-protocol.ts";

/**
 * One tokenizer family (models sharing one tokenizer definition), on Hugging Face's own tokenizers
 * (the Rust library Python's transformers uses, through its official Node binding): each text is
 * encoded once here, off the JS thread (the binding encodes on a native thread pool), and each model
 * truncates the result to its own length. Local files only.
 *
 * Every text is tokenized whole, then truncated, as transformers does. Encoding only a prefix of a
 * long text would not give the same ids: normalization can reach across any cut (XLM-R's charsmap
 * turns a zero-width space before it into a space that its Replace step merges with what follows),
 * and a long text without spaces has no safe place to cut. The cost is measured in
 * bench/results/2026-11-30-tokenize.md: about 1.5 s of a native thread for ~1 MB of text.
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
    /** The largest id it can give: every model of the family warms up with it (model-plan.ts). */
    readonly largestId: number,
  ) {}

  static async load(id: string, dir: string, maxLength: number): Promise<FamilyTokenizer> {
    return FamilyTokenizer.over(id, dir, loadTokenizer(dir), maxLength);
  }

  /** A family over a tokenizer already loaded (loadTokenizer checks its file; a test harness may not). */
  static async over(id: string, dir: string, tokenizer: Tokenizer, maxLength: number): Promise<FamilyTokenizer> {
    const specials = await specialTokens(dir, tokenizer);
    return new FamilyTokenizer(
      id,
      tokenizer,
      maxLength,
      specials.pad,
      Int32Array.from(specials.suffix),
      largestTokenId(tokenizer),
    );
  }

  /** What the service needs of the family without loading it itself (the tokenizer process sends it). */
  info(): FamilyInfo {
    return {
      id: this.id,
      maxLength: this.maxLength,
      padId: this.padId,
      suffix: this.suffix,
      largestId: this.largestId,
    };
  }

  /**
   * The ids a model sees, as transformers gives them with truncation=True: the template's special
   * tokens around the text, the text's end cut to fit maxLength. Texts that are not well-formed
   * UTF-16 (lone surrogates) are made so first, each lone surrogate becoming U+FFFD.
   */
  async encode(text: string): Promise<Int32Array> {
    return truncate(await this.encodeFull(text), this.maxLength, this.suffix);
  }

  /** The whole text, untruncated (token-length tables). */
  async encodeFull(text: string): Promise<Int32Array> {
    return Int32Array.from((await this.tokenizer.encode(text.toWellFormed())).getIds());
  }

  /** The token string of each id, for debugging (/tokenize). */
  tokenStrings(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.tokenizer.idToToken(id) ?? "");
  }
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
