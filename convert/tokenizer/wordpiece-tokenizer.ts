/**
 * A BERT-style repository that ships only vocab.txt (+ tokenizer_config.json) gets the
 * tokenizer.json transformers builds for it (its BertConverter): WordPiece over the vocabulary,
 * BertNormalizer (clean text, lowercase, accents, Chinese characters as the config says),
 * BertPreTokenizer, the [CLS] $A [SEP] template, the special tokens as added tokens.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConvertError, readJsonFile } from "../errors.ts";
import { checkTokenizerFileSize, checkVocabLines, MAX_VOCAB_TXT_BYTES } from "./file-limits.ts";

/** Slow tokenizer classes whose fast form is built by transformers' BertConverter. */
const BERT_CLASSES = ["BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast"];

/** tokenizer_config.json's special token (a string, or an AddedToken object), or the BERT default. */
function token(config: Record<string, unknown>, name: string, fallback: string): string {
  const v = config[name];
  return typeof v === "string" ? v : ((v as { content?: string } | undefined)?.content ?? fallback);
}

/** Whether `dir` is a BERT tokenizer given only as vocab.txt: the case this module writes a tokenizer.json for. */
export function isBertVocabOnly(dir: string): boolean {
  if (existsSync(join(dir, "tokenizer.json")) || !existsSync(join(dir, "vocab.txt"))) return false;
  const file = join(dir, "tokenizer_config.json");
  const config = existsSync(file) ? (readJsonFile(file) as Record<string, unknown>) : {};
  return BERT_CLASSES.includes(String(config.tokenizer_class ?? "BertTokenizer"));
}

/** The tokenizer.json of a vocab.txt + tokenizer_config.json, as transformers converts them. */
export function bertTokenizerJson(dir: string): Record<string, unknown> {
  const configFile = join(dir, "tokenizer_config.json");
  const config = existsSync(configFile) ? (readJsonFile(configFile) as Record<string, unknown>) : {};
  // load_vocab: one token per line, the line number is its id.
  // As Python's text mode reads it (any of \n, \r\n, \r ends a line); a repeated token keeps its last id.
  const file = join(dir, "vocab.txt");
  checkTokenizerFileSize(file, MAX_VOCAB_TXT_BYTES);
  const bytes = readFileSync(file);
  checkVocabLines(file, bytes);
  const lines = bytes.toString("utf8").split(/\r\n|\r|\n/);
  if (lines.at(-1) === "") lines.pop();
  const vocab: Record<string, number> = {};
  lines.forEach((token, id) => {
    vocab[token] = id;
  });
  const names = { unk: "[UNK]", sep: "[SEP]", pad: "[PAD]", cls: "[CLS]", mask: "[MASK]" } as const;
  const special = Object.fromEntries(
    Object.entries(names).map(([k, d]) => [k, token(config, `${k}_token`, d)]),
  ) as Record<keyof typeof names, string>;
  const idOf = (t: string) => {
    if (!(t in vocab)) throw new ConvertError(join(dir, "vocab.txt"), `has no ${t}, the tokenizer's special token`);
    return vocab[t];
  };
  const lowercase = config.do_lower_case !== false;
  const added = [...new Set(Object.values(special))]
    .map((content) => ({
      id: idOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }))
    .sort((a, b) => a.id - b.id);
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const tok = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars !== false,
      strip_accents: typeof config.strip_accents === "boolean" ? config.strip_accents : null,
      lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [tok(special.cls, 0), seq("A", 0), tok(special.sep, 0)],
      pair: [tok(special.cls, 0), seq("A", 0), tok(special.sep, 0), seq("B", 1), tok(special.sep, 1)],
      special_tokens: {
        [special.cls]: { id: special.cls, ids: [idOf(special.cls)], tokens: [special.cls] },
        [special.sep]: { id: special.sep, ids: [idOf(special.sep)], tokens: [special.sep] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: special.unk,
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}
