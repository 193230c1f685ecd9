import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { FamilyTokenizer } from "./family-tokenizer.ts";
import { loadTokenizer } from "../../lib/tokenizer/template.ts";

interface Expected {
  tokenizer: string;
  reference?: string;
  max_length: number | null;
  cases: { text: string; input_ids: number[] }[];
}
const expected = (name: string): Expected =>
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `${name}-expected.json`), "utf8"));
const load = (dir: string, maxLength = 512) => FamilyTokenizer.load(dir, join(TOKENIZER_FIXTURES, dir), maxLength);

/** The cases whose ids differ from the expected ones (their first 40 characters). */
async function mismatches(tok: FamilyTokenizer, cases: Expected["cases"]) {
  const got = await Promise.all(cases.map((c) => tok.encode(c.text)));
  return cases
    .filter((c, i) => JSON.stringify(Array.from(got[i])) !== JSON.stringify(c.input_ids))
    .map((c) => c.text.slice(0, 40));
}

describe("FamilyTokenizer gives exactly the ids of the independently computed fixtures", () => {
  for (const [dir, name] of [
    ["roberta-base", "roberta-base"],
    ["xlmr-charsmap", "xlmr-charsmap"],
    ["bert-base-uncased", "bert-base-uncased"],
  ] as const)
    test(`${name}: every case, truncation to max_length included`, async () => {
      const e = expected(name);
      const tok = await load(dir, e.max_length ?? Number.MAX_SAFE_INTEGER);
      expect(await mismatches(tok, e.cases)).toEqual([]);
      expect(e.cases.some((c) => c.input_ids.length === e.max_length)).toBe(true);
    }, 30_000);

  // Real DeBERTa-v3 (SentencePiece Unigram) and ModernBERT (byte-level BPE) files; their expected ids are whole.
  for (const name of ["deberta-v3", "modernbert"] as const) {
    test(`${name}: every case, whole`, async () => {
      const e = expected(name);
      expect(e.max_length).toBeNull();
      const tok = await load(name, Number.MAX_SAFE_INTEGER);
      expect(await mismatches(tok, e.cases)).toEqual([]);
    }, 30_000);

    test(`${name}: a served maximum cuts the ids on the right and keeps the closing special token`, async () => {
      const e = expected(name);
      const tok = await load(name, 512);
      const long = e.cases.filter((c) => c.input_ids.length > 512);
      expect(long.length).toBeGreaterThan(0);
      const cut = (ids: number[]) => [...ids.slice(0, 511), ids.at(-1)];
      const wrong = [];
      for (const c of long)
        if (!Bun.deepEquals(Array.from(await tok.encode(c.text)), cut(c.input_ids))) wrong.push(c.text.slice(0, 40));
      expect(wrong).toEqual([]);
    }, 30_000);
  }
});

describe("FamilyTokenizer", () => {
  test("the template's tokens come from the tokenizer: <s> … </s> (pad <pad>), [CLS] … [SEP] (pad [PAD])", async () => {
    const xlmr = await load("xlmr-charsmap");
    expect([Array.from(await xlmr.encode("")), xlmr.padId, Array.from(xlmr.suffix)]).toEqual([[0, 2], 1, [2]]);
    const bert = await load("bert-base-uncased");
    expect([Array.from(await bert.encode("")), bert.padId, Array.from(bert.suffix)]).toEqual([[101, 102], 0, [102]]);
    const deberta = await load("deberta-v3");
    expect([Array.from(await deberta.encode("")), deberta.padId, Array.from(deberta.suffix)]).toEqual([[1, 2], 0, [2]]);
    const modernbert = await load("modernbert");
    expect([Array.from(await modernbert.encode("")), modernbert.padId, Array.from(modernbert.suffix)]).toEqual([
      [50281, 50282],
      50283,
      [50282],
    ]);
  }, 30_000);

  test("lone surrogates become U+FFFD before tokenizing, in every family; the replacement is what the models see", async () => {
    for (const dir of ["roberta-base", "xlmr-charsmap", "bert-base-uncased", "deberta-v3", "modernbert"]) {
      const tok = await load(dir);
      for (const [broken, fixed] of [
        ["a \ud800 b", "a \ufffd b"],
        ["\udc00x", "\ufffdx"],
        ["😜\ud83d", "😜\ufffd"],
      ])
        expect([dir, Array.from(await tok.encode(broken))]).toEqual([dir, Array.from(await tok.encode(fixed))]);
      // The same ids as Hugging Face's tokenizer on the well-formed text: U+FFFD is tokenized, not dropped.
      const reference = loadTokenizer(join(TOKENIZER_FIXTURES, dir));
      expect(Array.from(await tok.encode("a \ud800 b"))).toEqual((await reference.encode("a \ufffd b")).getIds());
      expect(Array.from(await tok.encode("a \ud800 b")).length).toBeGreaterThan(
        Array.from(await tok.encode("a  b")).length - 1,
      );
    }
  }, 60_000);
});

/** Deterministic texts longer than the first window, in the shapes that matter for where a cut lands. */
function longTexts(seed: number): { kind: string; text: string }[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const words = ["the", "happiness", "Bitcoin", "naïve", "straße", "ОК", "日本語", "👍", "😜🔥", "https://x.co/a?b=1"];
  const more = ["1234", "don't", "—", "\u0000", "\u0007", "ﻼ", "ｶﾞ", "Việt", "ΣΟΦΟΣ", "\r\n"];
  const gaps = [" ", " ", " ", "  ", "\t", "\n", " \n ", "\u00a0", "\u3000"];
  const sentence = (n: number) => Array.from({ length: n }, () => pick([...words, ...more]) + pick(gaps)).join("");
  const cjk = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(0x4e00 + Math.floor(rand() * 2000))).join("");
  const ascii = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(rand() * 94))).join("");
  return [
    { kind: "words", text: sentence(3000) },
    { kind: "words then one long run", text: sentence(50) + "a".repeat(40_000) },
    { kind: "one long run", text: "ab".repeat(30_000) },
    { kind: "cjk without spaces", text: cjk(20_000) },
    { kind: "random ascii without spaces", text: ascii(30_000) },
    { kind: "emoji", text: "😜".repeat(10_000) },
    {
      kind: "spaces runs",
      text: Array.from({ length: 3000 }, () => pick(words) + " ".repeat(1 + Math.floor(rand() * 5))).join(""),
    },
    { kind: "short words then spaces only", text: sentence(400) + " ".repeat(20_000) },
    // Where tokenizing a prefix would differ from cutting the whole text's ids: XLM-R's charsmap turns a
    // zero-width space before a cut into a space that merges across it.
    {
      kind: "zero-width space before a space",
      text: `${`a${" ".repeat(6)}`.repeat(449) + "a ".repeat(59)}x\u200b x${"q".repeat(5000)}`,
    },
  ];
}

describe("encode of long texts gives the ids of Hugging Face's own truncation", () => {
  const all = [1, 2, 3].flatMap(longTexts);
  for (const dir of ["roberta-base", "xlmr-charsmap", "bert-base-uncased"])
    test(`${dir}: every generated shape`, async () => {
      const tok = await load(dir);
      // The reference: the tokenizer.json as transformers runs it with truncation=True, max_length=512.
      const reference = Tokenizer.fromFile(join(TOKENIZER_FIXTURES, dir, "tokenizer.json"));
      reference.setTruncation(512);
      const differing: string[] = [];
      for (const { kind, text } of all) {
        const want = (await reference.encode(text)).getIds();
        if (JSON.stringify(Array.from(await tok.encode(text))) !== JSON.stringify(want)) differing.push(kind);
      }
      expect(differing).toEqual([]);
    }, 60_000);
});
