import { Tokenizer } from "@huggingface/tokenizers";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

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

  /** <s> text </s>, truncated as transformers does (truncation=True): the text's end is cut, </s> kept. */
  encode(text: string): Int32Array {
    const ids = this.tokenizer.encode(text).ids;
    return truncate(Int32Array.from(ids), this.maxLength, this.eosId);
  }

  /** Token strings, for debugging. */
  tokens(text: string): string[] {
    return this.tokenizer.encode(text).tokens;
  }
}

/** Keeps the first maxLength − 1 ids and ends with eos; a view, not a copy, when nothing is cut. */
export function truncate(ids: Int32Array, maxLength: number, eosId: number): Int32Array {
  if (ids.length <= maxLength) return ids;
  const out = ids.slice(0, maxLength);
  out[maxLength - 1] = eosId;
  return out;
}
