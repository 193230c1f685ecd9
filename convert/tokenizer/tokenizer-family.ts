import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { definitionHash as tokenizerDefinitionHash, TokenizerFileError } from "../../lib/tokenizer/definition.ts";
import { ConvertError, readJsonFile } from "../errors.ts";
import { sha256, sha256File } from "../hash.ts";
import { checkTokenizerFileSize, TOKENIZER_FILE_LIMITS } from "./file-limits.ts";
import { debertaV2TokenizerJson, isSentencePieceOnly } from "./sentencepiece-tokenizer.ts";
import { bertTokenizerJson, isBertVocabOnly } from "./wordpiece-tokenizer.ts";

/** The files that define a vocabulary, for each tokenizer kind ("slow" files, as transformers calls them). */
const VOCAB_FILES = [["sentencepiece.bpe.model"], ["spm.model"], ["vocab.json", "merges.txt"], ["vocab.txt"]] as const;
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  // Read with spm.model in the older layout (no added_tokens_decoder in tokenizer_config.json).
  "added_tokens.json",
  "sentencepiece.bpe.model",
  "spm.model",
  "vocab.json",
  "merges.txt",
  "vocab.txt",
];

export interface TokenizerMember {
  key: string;
  dir: string;
  /** The base model's tokenizer files, for a model that ships no tokenizer.json. */
  baseDir?: string;
}

/** Which tokenizer.json a model is tokenized with, and why that file. */
export interface TokenizerChoice {
  key: string;
  /** Folder holding the tokenizer.json. */
  dir: string;
  /** sha256 of the definition (lib/tokenizer/definition.ts). */
  definition: string;
  /** "own tokenizer.json", or the base model's file standing in, and why it may. */
  source: string;
}

export interface TokenizerFamily {
  /** Stable name: model type + the first hex of the definition's hash. */
  id: string;
  definition: string;
  members: string[];
  /** Folder holding the tokenizer.json (and tokenizer_config.json) the family uses: its first member's. */
  sourceDir: string;
  /** Where the family's tokenizer.json came from. */
  source: string;
  /** Per member: where its tokenizer.json came from. */
  choices: TokenizerChoice[];
}

/** The definition's hash (lib/tokenizer/definition.ts), a file that is not one being a ConvertError. */
export function definitionHash(file: string): string {
  try {
    return tokenizerDefinitionHash(file);
  } catch (e) {
    if (e instanceof TokenizerFileError) throw new ConvertError(file, e.problem);
    throw e;
  }
}

/** The vocabulary a model ships as "slow" files, hashed byte for byte; null when it ships none. */
function slowVocabularyFingerprint(dir: string): { files: string[]; hash: string } | null {
  for (const group of VOCAB_FILES)
    if (group.every((f) => existsSync(join(dir, f))))
      return { files: [...group], hash: sha256(group.map((f) => `${f}:${sha256File(join(dir, f))}`).join("\n")) };
  return null;
}

/**
 * The tokenizer.json a model is tokenized with: its own; for a BERT-style model with only vocab.txt,
 * or a DeBERTa-v2/v3 one with only spm.model, the one transformers builds from it
 * (wordpiece-tokenizer.ts, sentencepiece-tokenizer.ts); or, for a model that ships only the slow
 * files (sentencepiece.bpe.model, spm.model, vocab.json + merges.txt, vocab.txt), its base model's, after
 * proving those files byte-identical: transformers then builds the fast tokenizer from the same
 * files with the same converter that wrote the base model's tokenizer.json. Otherwise conversion
 * stops: guessing a tokenizer would silently change answers.
 */
export function chooseTokenizer(m: TokenizerMember): TokenizerChoice {
  // Before anything reads or copies them.
  for (const dir of [m.dir, ...(m.baseDir ? [m.baseDir] : [])])
    for (const [name, limit] of Object.entries(TOKENIZER_FILE_LIMITS)) checkTokenizerFileSize(join(dir, name), limit);
  if (existsSync(join(m.dir, "tokenizer.json"))) {
    const effective = bertNormalizerAsConfigured(m.dir);
    if (effective) {
      const dir = scratchCopy(m.dir, ["tokenizer_config.json", "special_tokens_map.json"]);
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(effective));
      return {
        key: m.key,
        dir,
        definition: definitionHash(join(dir, "tokenizer.json")),
        source:
          "own tokenizer.json, its BertNormalizer set as tokenizer_config.json says (do_lower_case, strip_accents, " +
          "tokenize_chinese_chars), as transformers' fast BERT tokenizers do on load",
      };
    }
    return {
      key: m.key,
      dir: m.dir,
      definition: definitionHash(join(m.dir, "tokenizer.json")),
      source: "own tokenizer.json",
    };
  }
  if (isBertVocabOnly(m.dir))
    return writtenTokenizer(m, "vocab.txt", bertTokenizerJson(m.dir), "BertConverter", ["vocab.txt"]);
  if (isSentencePieceOnly(m.dir))
    return writtenTokenizer(m, "spm.model", debertaV2TokenizerJson(m.dir), "DebertaV2Converter", [
      "added_tokens.json",
      "spm.model",
    ]);
  const own = slowVocabularyFingerprint(m.dir);
  if (!own)
    throw new ConvertError(
      m.dir,
      `model ${m.key} ships no tokenizer (expected tokenizer.json, sentencepiece.bpe.model, spm.model, vocab.json + merges.txt, or vocab.txt)`,
    );
  if (!m.baseDir || !existsSync(join(m.baseDir, "tokenizer.json")))
    throw new ConvertError(m.dir, `no tokenizer.json for ${m.key} and no base model tokenizer to take one from`);
  const base = slowVocabularyFingerprint(m.baseDir);
  if (base?.hash !== own.hash)
    throw new ConvertError(
      m.baseDir,
      `the base model's vocabulary differs from ${m.key}'s: its tokenizer.json cannot stand in`,
    );
  return {
    key: m.key,
    dir: m.baseDir,
    definition: definitionHash(join(m.baseDir, "tokenizer.json")),
    source:
      `base model's tokenizer.json (${m.baseDir}): ${m.key} ships only ${own.files.join(" + ")}, byte-identical to the ` +
      "base model's, from which transformers builds the same tokenizer.json",
  };
}

/** A tokenizer.json written from a model's slow files, in a scratch folder with copies of the files it came from. */
function writtenTokenizer(
  m: TokenizerMember,
  vocabulary: string,
  definition: Record<string, unknown>,
  converter: string,
  files: string[],
): TokenizerChoice {
  const dir = scratchCopy(m.dir, ["tokenizer_config.json", "special_tokens_map.json", ...files]);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(definition));
  return {
    key: m.key,
    dir,
    definition: definitionHash(join(dir, "tokenizer.json")),
    source: `tokenizer.json written from ${vocabulary} and tokenizer_config.json, as transformers' ${converter} builds it`,
  };
}

const scratchCopies: string[] = [];

/**
 * A scratch folder with copies of a model's tokenizer files: written tokenizers never go into the
 * model's folder (it may be read-only). Removed when the process exits (removeScratchCopies).
 */
function scratchCopy(dir: string, files: string[]): string {
  const scratch = mkdtempSync(join(tmpdir(), "tokenizer-"));
  if (scratchCopies.length === 0) process.once("exit", removeScratchCopies);
  scratchCopies.push(scratch);
  for (const f of files) if (existsSync(join(dir, f))) cpSync(join(dir, f), join(scratch, f));
  return scratch;
}

/** Removes the scratch folders of this process's conversions (the store holds its own copies by then). */
export function removeScratchCopies() {
  for (const d of scratchCopies.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * transformers' fast BERT-style tokenizers rebuild their BertNormalizer on load when
 * tokenizer_config.json's do_lower_case (default true), strip_accents (default null) or
 * tokenize_chinese_chars (default true) differ from tokenizer.json's: the effective tokenizer.json,
 * or null when nothing changes (or the tokenizer is not of that kind).
 */
function bertNormalizerAsConfigured(dir: string): Record<string, unknown> | null {
  const configFile = join(dir, "tokenizer_config.json");
  if (!existsSync(configFile)) return null;
  const config = readJsonFile(configFile) as Record<string, unknown>;
  const cls = config.tokenizer_class;
  if (cls !== undefined && !BERT_NORMALIZER_CLASSES.test(String(cls))) return null;
  const definition = readJsonFile(join(dir, "tokenizer.json")) as { normalizer?: Record<string, unknown> | null };
  const n = definition.normalizer;
  if (n?.type !== "BertNormalizer") return null;
  const want = {
    lowercase: config.do_lower_case ?? true,
    strip_accents: config.strip_accents ?? null,
    handle_chinese_chars: config.tokenize_chinese_chars ?? true,
  };
  if (Object.entries(want).every(([k, v]) => (n[k] ?? null) === v)) return null;
  return { ...definition, normalizer: { ...n, ...want } };
}

/** Fast tokenizer classes whose __init__ re-sets the BertNormalizer from the config (transformers 4). */
const BERT_NORMALIZER_CLASSES =
  /^(Bert|DistilBert|Electra|MobileBert|Funnel|LayoutLM|SqueezeBert|RetriBert|Lxmert|ConvBert)Tokenizer(Fast)?$/;

/**
 * Groups models by tokenizer definition, so each text is tokenized once per distinct definition.
 * Models whose files differ in anything that decides ids (a normalizer step, a pre-tokenizer
 * option, a piece score) are in different families, even with the same vocabulary.
 */
export function groupTokenizerFamilies(
  members: TokenizerMember[],
  modelType: (key: string) => string,
): TokenizerFamily[] {
  const byDefinition = new Map<string, TokenizerChoice[]>();
  for (const m of members) {
    const choice = chooseTokenizer(m);
    byDefinition.set(choice.definition, [...(byDefinition.get(choice.definition) ?? []), choice]);
  }
  return [...byDefinition].map(([definition, choices]) => {
    const type = modelType(choices[0].key)
      .replace(/[^a-z0-9]+/gi, "")
      .toLowerCase();
    const first = choices[0];
    const withConfig = [first.dir, ...members.filter((m) => choices.some((c) => c.key === m.key)).map((m) => m.dir)];
    if (!withConfig.some((d) => existsSync(join(d, "tokenizer_config.json"))))
      throw new ConvertError(first.dir, "no tokenizer_config.json in the family");
    return {
      id: `${type}-${definition.slice(0, 12)}`,
      definition,
      members: choices.map((c) => c.key),
      sourceDir: first.dir,
      source: first.source === "own tokenizer.json" ? first.key : `${first.key}: ${first.source}`,
      choices,
    };
  });
}
