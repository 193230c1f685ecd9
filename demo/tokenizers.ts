/**
 * Small tokenizers shaped like the five models' own (XLM-R's: Unigram over Metaspace; RoBERTa's:
 * byte-level BPE), with their special ids and templates, written from nothing: the demo runs
 * without ../shared and without the Hub. Their pieces are single characters (XLM-R) or bytes
 * (RoBERTa): every id is below the real vocabularies' sizes, which the random models keep.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"];

function addedToken(id: number, content: string) {
  return {
    id,
    content,
    single_word: false,
    lstrip: content === "<mask>",
    rstrip: false,
    normalized: false,
    special: true,
  };
}

/** XLM-R's: <s> 0, <pad> 1, </s> 2, <unk> 3, then "▁" and the printable ASCII characters, <mask> last. */
function xlmrTokenizer() {
  const pieces = ["▁", ...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))];
  const vocab: [string, number][] = [
    ...SPECIALS.map((s): [string, number] => [s, 0]),
    ...pieces.map((p): [string, number] => [p, p === "▁" ? -3 : -5]),
    ["<mask>", 0],
  ];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...SPECIALS.map((s, i) => addedToken(i, s)), addedToken(vocab.length - 1, "<mask>")],
    normalizer: null,
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
        { Sequence: { id: "B", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
      ],
      special_tokens: {
        "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] },
        "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] },
      },
    },
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: { type: "Unigram", unk_id: 3, vocab, byte_fallback: false },
  };
}

/** The 256 characters byte-level BPE writes bytes as (GPT-2's table: printable bytes stand for themselves). */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + shifted++));
}

/** RoBERTa's: <s> 0, <pad> 1, </s> 2, <unk> 3, then one token per byte and no merges, <mask> last. */
function robertaTokenizer() {
  const symbols = [...SPECIALS, ...byteAlphabet(), "<mask>"];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...SPECIALS.map((s, i) => addedToken(i, s)), addedToken(symbols.length - 1, "<mask>")],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "RobertaProcessing",
      sep: ["</s>", 2],
      cls: ["<s>", 0],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(symbols.map((s, i) => [s, i])),
      merges: [],
    },
  };
}

/** Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json of `architecture` into `dir`. */
export function writeDemoTokenizer(dir: string, architecture: "xlmr" | "roberta") {
  mkdirSync(dir, { recursive: true });
  const tokenizer = architecture === "xlmr" ? xlmrTokenizer() : robertaTokenizer();
  const specials = {
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    sep_token: "</s>",
    pad_token: "<pad>",
    cls_token: "<s>",
    mask_token: "<mask>",
  };
  const config = {
    tokenizer_class: architecture === "xlmr" ? "XLMRobertaTokenizer" : "RobertaTokenizer",
    model_max_length: 512,
    ...specials,
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, "special_tokens_map.json"), JSON.stringify(specials, null, 2));
}
