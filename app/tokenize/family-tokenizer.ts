import type { Tokenizer, TruncationStrategy } from "tokenizers";
import { largestTokenId, loadTokenizer, specialTokens } from "../../lib/tokenizer/template.ts";
import type { FamilyInfo, TextInput } from "./tokenizer-protocol.ts";
import {
  cutRow,
  type EncodedRow,
  LONGEST_FIRST_RIGHT,
  type TextSpan,
  type Truncation,
  type TruncationDirection,
  truncateRow,
} from "./truncation.ts";

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
    private readonly dir: string,
    /**
     * Cut pairs (see encodeRow), one per side. The right one is loaded with the family, so that a
     * tokenizer process's size after loading includes it (loaded at the first pair instead, it would
     * look like growth, and the pool would replace the process after every job); the left one, rarely
     * asked for, at its first use (loadCutter), which the process counts as loaded, not grown.
     */
    private readonly cutters: Partial<Record<TruncationDirection, Tokenizer>> = {},
  ) {}

  static async load(id: string, dir: string, maxLength: number): Promise<FamilyTokenizer> {
    const family = await FamilyTokenizer.over(id, dir, loadTokenizer(dir), maxLength);
    family.loadCutter("right");
    return family;
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
      dir,
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
    return (await this.encodeRow(text)).ids;
  }

  /**
   * A text, or a pair in the template's pair form, as the model sees it: the texts cut (by default
   * longest_first on the right, the text-classification pipeline's truncation=True) to fit maxLength,
   * with their token type ids and where each text lies (its untruncated length too, for a model with
   * a smaller maximum).
   *
   * How much of each text a pair cut longest_first keeps is asked of the Rust library itself, on a
   * tokenizer of its own whose truncation is set once, before its first encode (never changed under
   * concurrent encodes): which text keeps the odd token when both are halved depends in tokenizers
   * 0.23.2 on more than the two lengths (41 and 40 tokens give 14 + 15, 89 and 40 give 15 + 14), so
   * code cannot reproduce it. Nor do the lengths stay the same on the other side (89 and 40 tokens: 15 + 14
   * cut on the right, 14 + 15 on the left), so each side has its cutter, the left one loaded at its first use.
   */
  async encodeRow(input: TextInput, truncation: Truncation = LONGEST_FIRST_RIGHT): Promise<EncodedRow> {
    const whole = await this.encodeWhole(input);
    // Zero-shot's only_first is cut in code (keptLengths: only the first text gives way), uncut when it cannot fit.
    if (truncation.strategy === "only_first" && typeof input !== "string")
      return truncateRow(whole, this.maxLength, truncation) ?? whole;
    const cut = truncateRow(whole, this.maxLength, truncation) as EncodedRow;
    if (typeof input === "string" || cut === whole) return cut;
    const cutter = this.loadCutter(truncation.direction);
    const encoding = await cutter.encode(input.text.toWellFormed(), input.text_pair.toWellFormed());
    const kept = textSpans(encoding.getSequenceIds(), 2).map((s) => s.length);
    return cutRow(whole, kept, truncation.direction);
  }

  /** The pair cutter of one side, loaded now if it is not yet. */
  loadCutter(direction: TruncationDirection): Tokenizer {
    this.cutters[direction] ??= pairCutter(this.dir, this.maxLength, direction);
    return this.cutters[direction];
  }

  /** The whole text, untruncated (token-length tables). */
  async encodeFull(text: string): Promise<Int32Array> {
    return (await this.encodeWhole(text)).ids;
  }

  /** The row untruncated, each text located by the encoding's sequence ids. */
  async encodeWhole(input: TextInput): Promise<EncodedRow> {
    const encoding =
      typeof input === "string"
        ? await this.tokenizer.encode(input.toWellFormed())
        : await this.tokenizer.encode(input.text.toWellFormed(), input.text_pair.toWellFormed());
    return {
      ids: Int32Array.from(encoding.getIds()),
      typeIds: Int32Array.from(encoding.getTypeIds()),
      spans: textSpans(encoding.getSequenceIds(), typeof input === "string" ? 1 : 2),
    };
  }

  /** The token string of each id, for debugging (/tokenize). */
  tokenStrings(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.tokenizer.idToToken(id) ?? "");
  }
}

/** A tokenizer of its own that cuts longest_first at maxLength from one side: set once, before its first encode. */
function pairCutter(dir: string, maxLength: number, direction: TruncationDirection): Tokenizer {
  const cutter = loadTokenizer(dir);
  // The binding takes a 32-bit length (a longer maximum never cuts anyway), and the side's lower-case name.
  cutter.setTruncation(Math.min(maxLength, 2 ** 31 - 1), {
    strategy: "LongestFirst" as TruncationStrategy,
    direction,
  });
  return cutter;
}

/**
 * Each text's tokens (sequence id 0, then 1) as one run; special tokens have none. An empty text has
 * no tokens: its empty span sits after the text before it (where among the special tokens changes
 * nothing, as nothing of it is cut).
 */
function textSpans(sequenceIds: (number | null | undefined)[], texts: number): TextSpan[] {
  return Array.from({ length: texts }, (_, text) => {
    const first = sequenceIds.indexOf(text);
    const full = sequenceIds.filter((s) => s === text).length;
    return { start: first >= 0 ? first : sequenceIds.lastIndexOf(text - 1) + 1, length: full, full };
  });
}
