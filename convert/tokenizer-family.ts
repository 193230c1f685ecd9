import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConvertError, readJsonFile } from "./errors.ts";
import { sha256, sha256File } from "./hash.ts";

/** The files that define a vocabulary, for each tokenizer kind ("slow" files, as transformers calls them). */
export const VOCAB_FILES = [["sentencepiece.bpe.model"], ["vocab.json", "merges.txt"]] as const;
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "sentencepiece.bpe.model",
  "vocab.json",
  "merges.txt",
];

export interface TokenizerMember {
  key: string;
  dir: string;
}

export interface TokenizerFamily {
  /** Stable name: model type + the first hex of the vocabulary fingerprint. */
  id: string;
  fingerprint: string;
  members: string[];
  /** Folder holding the tokenizer.json (and tokenizer_config.json) the family uses. */
  sourceDir: string;
  /** Which member (or base model) the tokenizer.json came from. */
  source: string;
}

/**
 * The vocabulary a model ships, hashed: its slow files byte for byte; where it ships only a
 * tokenizer.json, that file's `model` section (the vocabulary) and added tokens.
 */
export function vocabularyFingerprint(dir: string): string | null {
  for (const group of VOCAB_FILES) {
    if (group.every((f) => existsSync(join(dir, f))))
      return sha256(group.map((f) => `${f}:${sha256File(join(dir, f))}`).join("\n"));
  }
  const tj = join(dir, "tokenizer.json");
  if (!existsSync(tj)) return null;
  const parsed = readJsonFile(tj) as { model?: unknown; added_tokens?: unknown };
  return sha256(`tokenizer.json:${JSON.stringify([parsed.model ?? null, parsed.added_tokens ?? null])}`);
}

/**
 * Groups models whose vocabularies are byte-identical, so each text is tokenized once per family.
 * A family's tokenizer.json is the one most of its members ship (ties: manifest order); where no
 * member ships one, `base` (the base model's files) is used after proving its vocabulary is the
 * members' own. Otherwise conversion stops: guessing a tokenizer would silently change answers.
 */
export function groupTokenizerFamilies(
  members: TokenizerMember[],
  modelType: (key: string) => string,
  base: (key: string) => string | undefined,
): TokenizerFamily[] {
  const byPrint = new Map<string, TokenizerMember[]>();
  for (const m of members) {
    const print = vocabularyFingerprint(m.dir);
    if (!print)
      throw new ConvertError(
        m.dir,
        `model ${m.key} ships no tokenizer (expected tokenizer.json, sentencepiece.bpe.model or vocab.json + merges.txt)`,
      );
    byPrint.set(print, [...(byPrint.get(print) ?? []), m]);
  }
  const families: TokenizerFamily[] = [];
  for (const [fingerprint, group] of byPrint) {
    const type = modelType(group[0].key)
      .replace(/[^a-z0-9]+/gi, "")
      .toLowerCase();
    const id = `${type}-${fingerprint.slice(0, 12)}`;
    const shipping = group.filter((m) => existsSync(join(m.dir, "tokenizer.json")));
    let sourceDir: string;
    let source: string;
    if (shipping.length > 0) {
      const votes = new Map<string, TokenizerMember[]>();
      for (const m of shipping) {
        const h = sha256File(join(m.dir, "tokenizer.json"));
        votes.set(h, [...(votes.get(h) ?? []), m]);
      }
      const winner = [...votes.values()].sort((a, b) => b.length - a.length)[0][0];
      sourceDir = winner.dir;
      source = winner.key;
    } else {
      const baseDir = group.map((m) => base(m.key)).find((d) => d !== undefined);
      if (!baseDir || !existsSync(join(baseDir, "tokenizer.json")))
        throw new ConvertError(
          group[0].dir,
          `no tokenizer.json for ${group.map((m) => m.key).join(", ")} and no base model tokenizer to take one from`,
        );
      const basePrint = vocabularyFingerprint(baseDir);
      if (basePrint !== fingerprint)
        throw new ConvertError(
          baseDir,
          `the base model's vocabulary differs from ${group.map((m) => m.key).join(", ")}: its tokenizer.json cannot stand in`,
        );
      sourceDir = baseDir;
      source = `base model (${baseDir})`;
    }
    if (!existsSync(join(sourceDir, "tokenizer_config.json"))) {
      const withConfig = group.find((m) => existsSync(join(m.dir, "tokenizer_config.json")));
      if (!withConfig) throw new ConvertError(sourceDir, "no tokenizer_config.json in the family");
    }
    families.push({ id, fingerprint, members: group.map((m) => m.key), sourceDir, source });
  }
  return families;
}
