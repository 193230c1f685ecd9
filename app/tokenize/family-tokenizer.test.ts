import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { TOKENIZER_FIXTURES } from "../../testkit/fixtures.ts";
import { FamilyTokenizer, safeCut, truncate } from "./family-tokenizer.ts";

describe("FamilyTokenizer", () => {
  test("RoBERTa ids match the independently computed ids exactly, truncation included", async () => {
    const expected = await Bun.file(join(TOKENIZER_FIXTURES, "roberta-base-expected.json")).json();
    const tok = FamilyTokenizer.load("roberta", join(TOKENIZER_FIXTURES, "roberta-base"), expected.max_length);
    const mismatches = (expected.cases as { text: string; input_ids: number[] }[]).filter(
      (c) => JSON.stringify(Array.from(tok.encode(c.text))) !== JSON.stringify(c.input_ids),
    );
    expect(mismatches.map((c) => c.text.slice(0, 40))).toEqual([]);
    expect(expected.cases.some((c: { input_ids: number[] }) => c.input_ids.length === 512)).toBe(true);
  });

  test("the synthetic XLM-R Unigram tokenizer wraps texts in <s> … </s> and handles the empty string", () => {
    const tok = FamilyTokenizer.load("xlmr", join(TOKENIZER_FIXTURES, "xlmr-synthetic"), 512);
    expect(Array.from(tok.encode(""))).toEqual([0, 2]);
    const ids = tok.encode("This is how true happiness looks like 👍😜");
    expect(ids[0]).toBe(0);
    expect(ids[ids.length - 1]).toBe(2);
    expect(tok.padId).toBe(1);
    expect(tok.encode("word ".repeat(2000)).length).toBe(512);
  });

  test("truncate keeps the first ids and ends with </s>", () => {
    expect(Array.from(truncate(Int32Array.from([0, 5, 6, 7, 2]), 4, 2))).toEqual([0, 5, 6, 2]);
    const short = Int32Array.from([0, 5, 2]);
    expect(truncate(short, 4, 2)).toBe(short);
  });
});

/** Deterministic texts longer than the first window, in the shapes that matter for where a cut lands. */
function longTexts(seed: number): { kind: string; text: string }[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const words = [
    "the",
    "happiness",
    "Bitcoin",
    "naïve",
    "straße",
    "ОК",
    "日本語",
    "👍",
    "😜🔥",
    "https://x.co/a?b=1",
    "1234",
    "don't",
    "—",
    "\u0000",
    "\u0007",
  ];
  const gaps = [" ", " ", " ", "  ", "\t", "\n", " \n ", "\u00a0", "\u3000"];
  const sentence = (n: number) => Array.from({ length: n }, () => pick(words) + pick(gaps)).join("");
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
  ];
}

describe("encode of long texts (prefix only) agrees with tokenizing the whole text", () => {
  const roberta = () => FamilyTokenizer.load("roberta", join(TOKENIZER_FIXTURES, "roberta-base"), 512);
  const xlmr = () => FamilyTokenizer.load("xlmr", join(TOKENIZER_FIXTURES, "xlmr-synthetic"), 512);
  const differing = (tok: FamilyTokenizer, texts: { kind: string; text: string }[]) =>
    texts.filter(
      ({ text }) =>
        JSON.stringify(Array.from(tok.encode(text))) !==
        JSON.stringify(Array.from(truncate(tok.encodeFull(text), 512, tok.eosId))),
    );
  const all = [1, 2, 3].flatMap(longTexts);

  test("RoBERTa: every generated shape gives the same ids as truncating the full encoding", () => {
    expect(differing(roberta(), all).map((d) => d.kind)).toEqual([]);
  }, 30_000);

  test("XLM-R Unigram: the same, except a tied run (one letter repeated) reaching into the first 512 tokens", () => {
    const tok = xlmr();
    expect(
      differing(
        tok,
        all.filter((t) => t.kind !== "words then one long run"),
      ).map((d) => d.kind),
    ).toEqual([]);
    // The documented inexact case: Viterbi ties in "aaaa…" resolve by the run's total length, so a
    // cut inside the run may segment it differently from its start. The ids before the run agree.
    const run = "hello world ".repeat(20) + "a".repeat(40_001);
    const cut = Array.from(tok.encode(run));
    const full = Array.from(truncate(tok.encodeFull(run), 512, tok.eosId));
    const before = Array.from(tok.encodeFull("hello world ".repeat(20).trimEnd())).length - 1;
    expect(cut.slice(0, before)).toEqual(full.slice(0, before));
    expect(cut).toHaveLength(512);
  }, 30_000);

  test("safeCut lands on a space that follows a non-space character, within the window's upper half", () => {
    expect(safeCut("aaaa bbbb cccc", 12)).toBe(9);
    expect(safeCut("aaaa  bbbbbbbb", 12)).toBe(-1); // the only boundary (4) is in the lower half
    expect(safeCut("aaaaaaa  bbbbbbbb", 12)).toBe(7); // the first space of a run, not the second
    expect(safeCut("abcdefghijklmnop", 12)).toBe(-1);
  });
});

describe("encode bounds the work of one text", () => {
  test("a run the vocabulary does not know (one fused <unk>) is read only up to maxLength × 64 characters", () => {
    const tok = FamilyTokenizer.load("xlmr", join(TOKENIZER_FIXTURES, "xlmr-synthetic"), 512);
    const unknown = "漢"; // not in the synthetic vocabulary
    const tail = " and then words";
    // Within the cap the whole text is read: the words after the run are seen.
    const short = unknown.repeat(20_000) + tail;
    expect(Array.from(tok.encode(short))).toEqual(Array.from(tok.encodeFull(short)));
    // Past the cap they are not: the answer is that of the first 32,768 characters.
    const long = unknown.repeat(33_000) + tail;
    expect(Array.from(tok.encode(long))).toEqual(Array.from(tok.encodeFull(unknown.repeat(32_768))));
    expect(Array.from(tok.encode(long))).not.toEqual(Array.from(tok.encodeFull(long)));
  }, 30_000);
});
