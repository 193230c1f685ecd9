import { Tokenizer } from "@huggingface/tokenizers";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Characters first tried for a long text; the window doubles until it yields maxLength ids. */
const FIRST_WINDOW = 4096;
/**
 * The most characters read per token the model can see. Tokens average under 10 characters; only
 * runs the vocabulary does not know (fused into one <unk>) come near this, and tokenizing them is
 * slow (about 0.4 s for 32k characters), so this also bounds what one text can cost.
 */
const CHARS_PER_TOKEN_CAP = 64;

/**
 * One tokenizer family (models with byte-identical vocabularies): each text is encoded once here,
 * and each model truncates the result to its own length. Local files only.
 */
export class FamilyTokenizer {
  private constructor(
    readonly id: string,
    private readonly tokenizer: Tokenizer,
    /** The longest encoding any member needs. */
    readonly maxLength: number,
    readonly padId: number,
    readonly eosId: number,
  ) {}

  static load(id: string, dir: string, maxLength: number): FamilyTokenizer {
    const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const configFile = join(dir, "tokenizer_config.json");
    const config = existsSync(configFile) ? JSON.parse(readFileSync(configFile, "utf8")) : {};
    const tokenizer = new Tokenizer(json, config);
    const idOf = (token: string) => {
      const v = tokenizer.token_to_id(token);
      if (v === undefined) throw new Error(`tokenizer ${id}: no id for ${token}`);
      return v;
    };
    return new FamilyTokenizer(id, tokenizer, maxLength, idOf("<pad>"), idOf("</s>"));
  }

  /**
   * <s> text </s>, truncated as transformers does (truncation=True): the text's end is cut, </s> kept.
   * Only a prefix of a long text is tokenized (a 1 MB text costs seconds; the model sees 512 tokens).
   * Exact prefix: it ends where a space follows a non-space character, so every word before it is
   * tokenized as in the whole text (both families pre-tokenize at spaces); used once it yields
   * maxLength ids. A text without such a space (CJK, one long run) is cut inside a word, and the cut
   * is used only when it lies at least maxLength tokens past the last id kept. Never more than
   * maxLength × 64 characters are read: past that, the prefix is used as it is. README says when
   * the last two differ from tokenizing everything.
   */
  encode(text: string): Int32Array {
    const cap = this.maxLength * CHARS_PER_TOKEN_CAP;
    for (let window = Math.min(FIRST_WINDOW, cap); ; window = Math.min(2 * window, cap)) {
      if (text.length <= window)
        return truncate(Int32Array.from(this.tokenizer.encode(text).ids), this.maxLength, this.eosId);
      let cut = safeCut(text, window);
      const exact = cut >= 0;
      if (!exact) cut = isHighSurrogate(text.charCodeAt(window - 1)) ? window - 1 : window;
      const ids = this.tokenizer.encode(text.slice(0, cut)).ids;
      if (ids.length >= (exact ? this.maxLength : 2 * this.maxLength) || window === cap)
        return truncate(Int32Array.from(ids), this.maxLength, this.eosId);
    }
  }

  /** The whole text, untruncated: what `encode` must agree with (tests, /tokenize). */
  encodeFull(text: string): Int32Array {
    return Int32Array.from(this.tokenizer.encode(text).ids);
  }

  /** The token string of each id, for debugging (/tokenize). */
  tokenStrings(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.tokenizer.id_to_token(id) ?? "");
  }
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const WHITESPACE = /\s/;

/** The last position in (window/2, window] holding a space that follows a non-space character, or -1. */
export function safeCut(text: string, window: number): number {
  for (let i = Math.min(window, text.length - 1); i > window / 2; i--)
    if (text.charCodeAt(i) === 32 && !WHITESPACE.test(text[i - 1])) return i;
  return -1;
}

/** Keeps the first maxLength − 1 ids and ends with eos; a view, not a copy, when nothing is cut. */
export function truncate(ids: Int32Array, maxLength: number, eosId: number): Int32Array {
  if (ids.length <= maxLength) return ids;
  const out = ids.slice(0, maxLength);
  out[maxLength - 1] = eosId;
  return out;
}
