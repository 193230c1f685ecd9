/**
 * A DeBERTa-v2/v3 repository that ships only spm.model (+ tokenizer_config.json) gets the
 * tokenizer.json transformers builds for it (its DebertaV2Converter, run when DebertaV2TokenizerFast
 * loads a folder without tokenizer.json):
 * - normalizer: Lowercase (if do_lower_case), Strip (both sides), Precompiled (the model's charsmap,
 *   when it has one), Replace of runs of 2+ spaces by one;
 * - pre-tokenizer: Punctuation "isolated" (if split_by_punct), then Metaspace "▁" with prepend_scheme
 *   "always" and split;
 * - Unigram over the pieces and their scores, unk_id from the trainer spec, byte_fallback false (the
 *   converter never sets it: a model trained with byte fallback still maps rare characters to [UNK]);
 * - template `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`;
 * - added tokens as transformers' fast tokenizer ends up with them (addedTokens below).
 *
 * add_prefix_space in tokenizer_config.json changes nothing: the converter reads it off the slow
 * DebertaV2Tokenizer, which (transformers 4.x) never sets that attribute, so prepend_scheme is "always".
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConvertError, readJsonFile } from "../errors.ts";
import { PieceType, readSentencePieceModel, type SentencePieceModel } from "./sentencepiece-model.ts";

/** Classes whose fast form transformers builds with DebertaV2Converter (mDeBERTa uses the same). */
const DEBERTA_V2_CLASSES = ["DebertaV2Tokenizer", "DebertaV2TokenizerFast"];

/** Whether `dir` is a DeBERTa-v2/v3 tokenizer given only as spm.model: the case this module writes a tokenizer.json for. */
export function isSentencePieceOnly(dir: string): boolean {
  if (existsSync(join(dir, "tokenizer.json")) || !existsSync(join(dir, "spm.model"))) return false;
  const config = readConfig(dir, "tokenizer_config.json");
  return DEBERTA_V2_CLASSES.includes(String(config.tokenizer_class ?? "DebertaV2Tokenizer"));
}

function readConfig(dir: string, name: string): Record<string, unknown> {
  const file = join(dir, name);
  if (!existsSync(file)) return {};
  const value = readJsonFile(file);
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new ConvertError(file, "not a JSON object");
  return value as Record<string, unknown>;
}

/** The tokenizer.json of a spm.model + tokenizer_config.json, as transformers' DebertaV2Converter writes it. */
export function debertaV2TokenizerJson(dir: string): Record<string, unknown> {
  const file = join(dir, "spm.model");
  const spm = readSentencePieceModel(file);
  if (spm.modelType !== 1)
    throw new ConvertError(file, `trainer_spec.model_type is ${spm.modelType}, not Unigram (1) as DeBERTa-v2's is`);
  if (spm.unkId < 0 || spm.unkId >= spm.pieces.length)
    throw new ConvertError(file, `trainer_spec.unk_id ${spm.unkId} is not one of its ${spm.pieces.length} pieces`);
  const config = readConfig(dir, "tokenizer_config.json");
  const added = addedTokens(dir, config, spm);
  const idOf = (content: string) => {
    // As the slow tokenizer's convert_tokens_to_ids: its added tokens, then the pieces.
    const id = added.find((t) => t.content === content)?.id ?? pieceIds(spm).get(content);
    if (id === undefined) throw new ConvertError(file, `has no ${content}, the token DeBERTa's template puts there`);
    return id;
  };
  const metaspace = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "Sequence", normalizers: normalizers(config, spm) },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        ...(config.split_by_punct === true ? [{ type: "Punctuation", behavior: "Isolated" }] : []),
        metaspace,
      ],
    },
    post_processor: template(idOf("[CLS]"), idOf("[SEP]")),
    decoder: metaspace,
    model: {
      type: "Unigram",
      unk_id: spm.unkId,
      vocab: spm.pieces.map((p) => [p.piece, rustFloat(p.score)]),
      byte_fallback: false,
    },
  };
}

function normalizers(config: Record<string, unknown>, spm: SentencePieceModel): Record<string, unknown>[] {
  return [
    ...(config.do_lower_case === true ? [{ type: "Lowercase" }] : []),
    { type: "Strip", strip_left: true, strip_right: true },
    ...(spm.precompiledCharsmap
      ? [{ type: "Precompiled", precompiled_charsmap: Buffer.from(spm.precompiledCharsmap).toString("base64") }]
      : []),
    { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
  ];
}

/** The converter names [CLS] and [SEP] literally, whatever the config calls its cls and sep tokens. */
function template(cls: number, sep: number): Record<string, unknown> {
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const tok = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  return {
    type: "TemplateProcessing",
    single: [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
    pair: [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 1), tok("[SEP]", 1)],
    special_tokens: {
      "[CLS]": { id: "[CLS]", ids: [cls], tokens: ["[CLS]"] },
      "[SEP]": { id: "[SEP]", ids: [sep], tokens: ["[SEP]"] },
    },
  };
}

const pieceIdsCache = new WeakMap<SentencePieceModel, Map<string, number>>();

/** Each piece's id; a repeated piece keeps its last, as the Unigram model's map does. */
function pieceIds(spm: SentencePieceModel): Map<string, number> {
  let ids = pieceIdsCache.get(spm);
  if (!ids) {
    ids = new Map(spm.pieces.map((p, i) => [p.piece, i]));
    pieceIdsCache.set(spm, ids);
  }
  return ids;
}

/** A number as Rust's serde_json writes an f64 (ryu): the shortest digits that read back, "0.0" for zero, "1e-7" far out. */
function rustFloat(x: number): unknown {
  return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(rustFloatText(x));
}

export function rustFloatText(x: number): string {
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // JavaScript's shortest round-trip digits, and where the decimal point goes.
  const [mantissa, exp] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const point = Number(exp) + 1; // digits before the decimal point
  if (point > 0 && point <= 16)
    return digits.length <= point
      ? `${sign}${digits.padEnd(point, "0")}.0`
      : `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  if (point > -5 && point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  const e = point - 1;
  return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${e}`;
}

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}
type TokenFlags = Omit<AddedToken, "id">;

const flags = (content: string, special: boolean, normalized = !special): TokenFlags => ({
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized,
  special,
});

/** A token as tokenizer_config.json or special_tokens_map.json gives it: a string, or an AddedToken's fields. */
function configToken(v: unknown, special: boolean): TokenFlags | null {
  if (typeof v === "string") return flags(v, special);
  if (v === null || typeof v !== "object" || typeof (v as { content?: unknown }).content !== "string") return null;
  const o = v as Record<string, unknown>;
  const isSpecial = typeof o.special === "boolean" ? o.special : special;
  return {
    content: o.content as string,
    single_word: o.single_word === true,
    lstrip: o.lstrip === true,
    rstrip: o.rstrip === true,
    normalized: typeof o.normalized === "boolean" ? o.normalized : !isSpecial,
    special: isSpecial,
  };
}

/** DebertaV2TokenizerFast's special tokens and their defaults, in transformers' SPECIAL_TOKENS_ATTRIBUTES order. */
const SPECIAL_DEFAULTS = [
  ["bos_token", "[CLS]"],
  ["eos_token", "[SEP]"],
  ["unk_token", "[UNK]"],
  ["sep_token", "[SEP]"],
  ["pad_token", "[PAD]"],
  ["cls_token", "[CLS]"],
  ["mask_token", "[MASK]"],
] as const;

/**
 * The special tokens the fast tokenizer is built with: tokenizer_config.json's, or its defaults; a config
 * without added_tokens_decoder (the older layout) takes special_tokens_map.json's over them, as
 * transformers' from_pretrained does. The slow DebertaV2Tokenizer makes a plain-string unk token
 * `normalized`, and the fast one inherits it.
 */
function specialTokens(dir: string, config: Record<string, unknown>, legacy: boolean): TokenFlags[] {
  const map = legacy ? readConfig(dir, "special_tokens_map.json") : {};
  const tokens: TokenFlags[] = [];
  for (const [key, fallback] of SPECIAL_DEFAULTS) {
    const given = map[key] ?? config[key];
    const token = given === null ? null : (configToken(given ?? fallback, true) ?? flags(fallback, true));
    if (!token) continue;
    if (key === "unk_token" && typeof given !== "object") token.normalized = true;
    tokens.push({ ...token, special: true });
  }
  const extra = map.additional_special_tokens ?? config.additional_special_tokens;
  if (Array.isArray(extra)) for (const v of extra) tokens.push(...[configToken(v, true) ?? []].flat());
  return tokens;
}

/**
 * The added tokens as transformers' fast tokenizer has them after loading, replaying its steps on the
 * tokenizers library's added vocabulary: the converter adds the model's control pieces (special) and
 * user-defined pieces; then the fast tokenizer adds tokenizer_config.json's added_tokens_decoder (or,
 * in the older layout, added_tokens.json) where it differs from what is there, and every special token
 * not yet added. A token already in the vocabulary keeps its id, a new one takes the next; re-adding a
 * token replaces its flags. Sorted by id, as tokenizer.json lists them.
 */
function addedTokens(dir: string, config: Record<string, unknown>, spm: SentencePieceModel): AddedToken[] {
  const byId = new Map<number, TokenFlags>();
  const idByContent = new Map<string, number>();
  const add = (token: TokenFlags) => {
    if (token.content === "" || [...byId.values()].some((t) => Bun.deepEquals(t, token))) return;
    const next = Math.max(spm.pieces.length, ...[...byId.keys()].map((id) => id + 1));
    const id = idByContent.get(token.content) ?? pieceIds(spm).get(token.content) ?? next;
    idByContent.set(token.content, id);
    byId.set(id, token);
  };
  spm.pieces.forEach((p) => {
    if (p.type === PieceType.control || p.type === PieceType.userDefined)
      add(flags(p.piece, p.type === PieceType.control, false));
  });
  const decoder = config.added_tokens_decoder;
  const legacy = decoder === undefined || decoder === null || typeof decoder !== "object";
  const special = specialTokens(dir, config, legacy);
  const names = new Set(special.map((t) => t.content));
  const fromConfig = legacy
    ? legacyAddedTokens(dir, names)
    : configAddedTokens(join(dir, "tokenizer_config.json"), decoder);
  const toAdd = fromConfig.filter((t) => ![...byId.values()].some((u) => Bun.deepEquals(t, u)));
  const known = new Set([...idByContent.keys(), ...toAdd.map((t) => t.content)]);
  for (const t of special) if (!known.has(t.content) && !toAdd.some((u) => Bun.deepEquals(t, u))) toAdd.push(t);
  for (const t of toAdd) add({ ...t, special: t.special || names.has(t.content) });
  return [...byId].map(([id, t]) => ({ id, ...t })).sort((a, b) => a.id - b.id);
}

/** tokenizer_config.json's added_tokens_decoder ({"id": AddedToken}), in id order. */
function configAddedTokens(file: string, decoder: object): TokenFlags[] {
  return Object.entries(decoder)
    .map(([id, v]) => {
      const token = configToken(v, false);
      if (!/^\d+$/.test(id) || !token)
        throw new ConvertError(file, `added_tokens_decoder has an entry ${id} that is not a token`);
      return [Number(id), token] as const;
    })
    .sort((a, b) => a[0] - b[0])
    .map(([, t]) => t);
}

/** added_tokens.json ({"token": id}) of the older layout: special when it names a special token. */
function legacyAddedTokens(dir: string, specialNames: Set<string>): TokenFlags[] {
  const entries = Object.entries(readConfig(dir, "added_tokens.json"));
  return entries
    .filter(([, id]) => typeof id === "number")
    .sort((a, b) => (a[1] as number) - (b[1] as number))
    .map(([content]) => flags(content, specialNames.has(content)));
}
