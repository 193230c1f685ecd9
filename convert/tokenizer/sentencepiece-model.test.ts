import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { ConvertError } from "../errors.ts";
import { MAX_SPM_MODEL_BYTES, MAX_SPM_PIECES } from "./file-limits.ts";
import { readSentencePieceModel } from "./sentencepiece-model.ts";
import { chooseTokenizer } from "./tokenizer-family.ts";

const REAL = join(TOKENIZER_FIXTURES, "deberta-v3", "spm.model");

/** Protobuf wire format, enough to write a ModelProto by hand. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  return [...out, v];
};
const field = (number: number, body: number[]) => [...varint((number << 3) | 2), ...varint(body.length), ...body];
const int = (number: number, value: number) => [...varint(number << 3), ...varint(value)];
const text = (s: string) => [...Buffer.from(s)];
const piece = (s: string, type = 1) => field(1, [...field(1, text(s)), ...int(3, type)]);

/** A DeBERTa-like repository whose spm.model is `bytes`. */
function withModel(bytes: Uint8Array | number[]): string {
  const dir = join(tempDir("spm-refused"), "m");
  cpSync(join(TOKENIZER_FIXTURES, "deberta-v3"), dir, { recursive: true });
  rmSync(join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "spm.model"), Uint8Array.from(bytes));
  return dir;
}

function refusal(dir: string): ConvertError {
  let error: unknown = null;
  try {
    chooseTokenizer({ key: "m", dir });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConvertError);
  expect((error as ConvertError).file).toBe(join(dir, "spm.model"));
  return error as ConvertError;
}

describe("spm.model is read as untrusted input: every refusal names the file", () => {
  test("the real DeBERTa-v3 model reads whole: 128,000 pieces, Unigram, unk_id 3, its charsmap", () => {
    const m = readSentencePieceModel(REAL);
    expect([m.pieces.length, m.modelType, m.unkId, m.pieces[3].piece]).toEqual([128_000, 1, 3, "[UNK]"]);
    expect(m.byteFallback).toBe(true); // trained with it; the converter still writes byte_fallback false
    expect(m.precompiledCharsmap?.length).toBeGreaterThan(100_000);
  });

  test("one over its size limit is refused unread", () => {
    const dir = withModel([]);
    truncateSync(join(dir, "spm.model"), MAX_SPM_MODEL_BYTES + 1); // sparse: nothing written
    expect(refusal(dir).message).toMatch(new RegExp(`spm\\.model: is ${MAX_SPM_MODEL_BYTES + 1} bytes, more than`));
  });

  test("a model cut short is malformed protobuf, and the error says where", () => {
    const bytes = readFileSync(REAL);
    const e = refusal(withModel(bytes.subarray(0, 1_000_000)));
    expect(e.message).toMatch(
      /spm\.model: not a SentencePiece model: a field of \d+ bytes runs past the end at byte \d+/,
    );
  });

  test("a file that is not protobuf at all (a JSON file renamed) is refused", () => {
    const e = refusal(withModel(text(JSON.stringify({ pieces: ["a", "b"] }))));
    expect(e.message).toMatch(/not a SentencePiece model: /);
  });

  test("more pieces than any model has rows is refused before they are read", () => {
    const one = piece("a");
    const many = new Uint8Array(one.length * (MAX_SPM_PIECES + 1));
    for (let i = 0; i < MAX_SPM_PIECES + 1; i++) many.set(one, i * one.length);
    expect(many.length).toBeLessThan(MAX_SPM_MODEL_BYTES);
    expect(refusal(withModel(many)).message).toContain(`has more than ${MAX_SPM_PIECES} pieces`);
  });

  test("a piece that is not UTF-8, an empty one, or none at all", () => {
    expect(refusal(withModel(field(1, field(1, [0xff, 0xfe])))).message).toContain("piece 0's text is not valid UTF-8");
    expect(refusal(withModel([...piece("a"), ...field(1, [])])).message).toContain("piece 1 is empty");
    expect(refusal(withModel(field(2, int(40, 0)))).message).toContain("it has no pieces");
  });

  test("a BPE model, or an unk_id outside the pieces, is not what DebertaV2Converter converts", () => {
    const pieces = [...piece("[PAD]", 3), ...piece("[CLS]", 3), ...piece("[SEP]", 3), ...piece("[UNK]", 2)];
    expect(refusal(withModel([...pieces, ...field(2, int(3, 2))])).message).toContain("model_type is 2, not Unigram");
    expect(refusal(withModel([...pieces, ...field(2, int(40, 9))])).message).toContain("unk_id 9 is not one of its 4");
    // The same pieces with a valid unk_id are a tokenizer.
    expect(chooseTokenizer({ key: "m", dir: withModel([...pieces, ...field(2, int(40, 3))]) }).source).toMatch(
      /spm\.model/,
    );
  });
});
