import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { loadTokenizer } from "../../lib/tokenizer/template.ts";
import { tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { rustFloatText } from "./sentencepiece-tokenizer.ts";
import { chooseTokenizer, definitionHash } from "./tokenizer-family.ts";

// Each case writes and loads a 128k-piece tokenizer (about two seconds) on a shared 2-core machine.
setDefaultTimeout(60_000);

const FIXTURE = join(TOKENIZER_FIXTURES, "deberta-v3");

/** The real DeBERTa-v3 files as a repository that ships only spm.model (+ tokenizer_config.json and the rest). */
function spmOnly(config?: (c: Record<string, unknown>) => Record<string, unknown>): string {
  const dir = join(tempDir("spm-only"), "m");
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(join(dir, "tokenizer.json"));
  if (config) {
    const file = join(dir, "tokenizer_config.json");
    writeFileSync(file, JSON.stringify(config(JSON.parse(readFileSync(file, "utf8")))));
  }
  return dir;
}

const written = (dir: string) => JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
const tokens = async (dir: string, text: string) => (await loadTokenizer(dir).encode(text)).getTokens();

describe("tokenizer.json written from spm.model, as transformers' DebertaV2Converter builds it", () => {
  test("DeBERTa-v3: the same definition as the converter's own tokenizer.json, and exactly the 196 reference ids", async () => {
    const choice = chooseTokenizer({ key: "m", dir: spmOnly() });
    expect(choice.source).toMatch(/written from spm\.model/);
    expect(choice.definition).toBe(definitionHash(join(FIXTURE, "tokenizer.json")));
    const expected = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, "deberta-v3-expected.json"), "utf8"));
    const tok = loadTokenizer(choice.dir);
    const wrong: string[] = [];
    for (const c of expected.cases as { text: string; input_ids: number[] }[])
      if (!Bun.deepEquals((await tok.encode(c.text)).getIds(), c.input_ids)) wrong.push(c.text.slice(0, 40));
    expect(wrong).toEqual([]);
    expect(expected.cases.length).toBe(196);
  });

  test("DeBERTa-v3 pairs: the written template gives the 62 reference pairs' ids and token types ([SEP] B [SEP] of type 1)", async () => {
    const choice = chooseTokenizer({ key: "m", dir: spmOnly() });
    const pairs = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, "pairs-deberta-v3-expected.json"), "utf8"));
    const tok = loadTokenizer(choice.dir);
    const wrong: string[] = [];
    for (const c of pairs.cases as {
      text: string;
      text_pair: string;
      input_ids: number[];
      token_type_ids: number[];
    }[]) {
      const e = await tok.encode(c.text, c.text_pair);
      if (!Bun.deepEquals([e.getIds(), e.getTypeIds()], [c.input_ids, c.token_type_ids]))
        wrong.push(c.text.slice(0, 40));
    }
    expect(wrong).toEqual([]);
    expect(pairs.cases.length).toBe(62);
  });

  test("do_lower_case: a Lowercase step first, as the slow tokenizer lowers the text before SentencePiece", async () => {
    const plain = chooseTokenizer({ key: "m", dir: spmOnly() });
    const lower = chooseTokenizer({ key: "m", dir: spmOnly((c) => ({ ...c, do_lower_case: true })) });
    expect(written(lower.dir).normalizer.normalizers.map((n: { type: string }) => n.type)).toEqual([
      "Lowercase",
      "Strip",
      "Precompiled",
      "Replace",
    ]);
    expect(lower.definition).not.toBe(plain.definition);
    expect(await tokens(lower.dir, "HELLO World")).toEqual(await tokens(plain.dir, "hello world"));
    expect(await tokens(plain.dir, "HELLO")).not.toEqual(await tokens(plain.dir, "hello"));
  });

  test("split_by_punct: punctuation is its own word (Punctuation isolated, before Metaspace)", async () => {
    const plain = chooseTokenizer({ key: "m", dir: spmOnly() });
    const split = chooseTokenizer({ key: "m", dir: spmOnly((c) => ({ ...c, split_by_punct: true })) });
    expect(written(split.dir).pre_tokenizer.pretokenizers.map((p: { type: string }) => p.type)).toEqual([
      "Punctuation",
      "Metaspace",
    ]);
    // As the slow tokenizer splits "don't, ok" into "don", "'", "t", ",", " ok" and encodes each alone.
    const alone = async (word: string) => (await tokens(plain.dir, word)).slice(1, -1);
    const words = await Promise.all(["don", "'", "t", ",", " ok"].map(alone));
    expect(await tokens(split.dir, "don't, ok")).toEqual(["[CLS]", ...words.flat(), "[SEP]"]);
    expect(await tokens(plain.dir, "don't, ok")).not.toEqual(await tokens(split.dir, "don't, ok"));
  });

  test("add_prefix_space changes nothing: DebertaV2Tokenizer never carries it to the converter, so ▁ is always prepended", () => {
    const plain = chooseTokenizer({ key: "m", dir: spmOnly() });
    const noPrefix = chooseTokenizer({ key: "m", dir: spmOnly((c) => ({ ...c, add_prefix_space: false })) });
    expect(noPrefix.definition).toBe(plain.definition);
    expect(written(noPrefix.dir).pre_tokenizer.pretokenizers[0].prepend_scheme).toBe("always");
  });

  test("the older layout (no added_tokens_decoder) ends with the same added tokens: [UNK] normalized, [MASK] appended", () => {
    const dir = spmOnly(({ added_tokens_decoder: _, ...c }) => c);
    expect(written(chooseTokenizer({ key: "m", dir }).dir).added_tokens).toEqual(
      JSON.parse(readFileSync(join(FIXTURE, "tokenizer.json"), "utf8")).added_tokens,
    );
  });

  test("the converter's template names [CLS] literally: a model that has none (its cls token renamed) is refused, naming spm.model", () => {
    const dir = spmOnly(({ added_tokens_decoder: _, ...c }) => ({ ...c, cls_token: "[CLX]", bos_token: "[CLX]" }));
    rmSync(join(dir, "special_tokens_map.json")); // it names [CLS], which the older layout would add
    // The same model with [CLS] renamed in place (same length: the protobuf stays well-formed).
    const file = join(dir, "spm.model");
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from("[CLS]"));
    bytes.set(Buffer.from("[CLX]"), at);
    writeFileSync(file, bytes);
    expect(() => chooseTokenizer({ key: "m", dir })).toThrow(`${file}: has no [CLS]`);
  });
});

describe("scores are written as Rust's serde_json writes an f64, so the definition hash matches the converter's", () => {
  test("zero and whole numbers keep .0, exponents below 1e-5 or from 1e16 use e, the rest the shortest digits", () => {
    expect(["0.0", "-7.0", "-24.518545150756836", "-1.5e-7", "1e16", "0.0001", "0.00001", "1e-6"]).toEqual(
      [0, -7, -24.518545150756836, -1.5e-7, 1e16, 1e-4, 1e-5, 1e-6].map(rustFloatText),
    );
  });

  test("every score of the real spm.model reads back as the converter's tokenizer.json spells it", () => {
    const choice = chooseTokenizer({ key: "m", dir: spmOnly() });
    const source = (file: string) => {
      const text = readFileSync(file, "utf8");
      return [...text.slice(text.indexOf('"vocab"')).matchAll(/",\s*(-?[0-9.eE+-]+)\s*\]/g)].map((m) => m[1]);
    };
    const ours = source(join(choice.dir, "tokenizer.json"));
    expect(ours.length).toBe(128_000);
    expect(ours).toEqual(source(join(FIXTURE, "tokenizer.json")));
    // And the Rust library reads it back: the written file is a tokenizer it loads.
    expect(Tokenizer.fromFile(join(choice.dir, "tokenizer.json")).getVocabSize(true)).toBe(128_001);
  });
});
