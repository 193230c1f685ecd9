import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { TOKENIZER_FIXTURES } from "../../test/helpers/fixtures.ts";
import { FamilyTokenizer, truncate } from "./family-tokenizer.ts";

describe("FamilyTokenizer", () => {
  test("RoBERTa ids match the independently computed ids exactly, truncation included", async () => {
    const expected = await Bun.file(join(TOKENIZER_FIXTURES, "roberta-base-expected.json")).json();
    const tok = FamilyTokenizer.load("roberta", join(TOKENIZER_FIXTURES, "roberta-base"), expected.max_length);
    const mismatches = (expected.cases as { text: string; input_ids: number[] }[]).filter((c) => JSON.stringify(Array.from(tok.encode(c.text))) !== JSON.stringify(c.input_ids));
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
