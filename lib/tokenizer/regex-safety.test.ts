import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { catastrophicShape, tokenizerRegexes, unsafeTokenizerRegexes } from "./regex-safety.ts";

describe("regexes that backtrack exponentially are found", () => {
  test.each([
    ["(a+)+$", "nested quantifiers"],
    ["(a*)*b", "nested quantifiers"],
    ["(?:\\w+\\s?)*$", "nested quantifiers"],
    ["(a{1,3})+b", "nested quantifiers"],
    ["(.*a){12}", "nested quantifiers"],
    ["^(([a-z])+.)+[A-Z]([a-z])+$", "nested quantifiers"],
    ["(?<word>x+)+y", "nested quantifiers"],
    ["(?=(a+)+b)", "nested quantifiers"],
    ["(a|aa)+b", "alternatives can start alike"],
    ["(\\w|\\d)*x", "alternatives can start alike"],
    ["(?:a|b?)+c", "nested quantifiers"],
  ])("%p: %s", (pattern, why) => {
    expect(catastrophicShape(pattern)).toContain(why);
  });
});

test("groups nested past the stack are refused, not a crash of the check", () => {
  expect(catastrophicShape(`${"(".repeat(100_000)}a${")".repeat(100_000)}`)).toBe("groups nested too deeply to check");
});

describe("the regexes of real tokenizers pass", () => {
  test.each([
    // GPT-2 / RoBERTa byte-level (the regex its ByteLevel pre-tokenizer applies), Llama 3 and DeepSeek Splits.
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[一-龥぀-ゟ゠-ヿ]+|[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    // BLOOM's (a class nested in a class), XLM-R-style whitespace squeezing, disjoint alternatives repeated.
    " ?[^(\\s|[.,!?…。，、।۔،])]+",
    " {2,}",
    "(?:\\r\\n|\\n)+",
    "(ab)+",
    "\\d{1,3}(?=(\\d{3})+$)",
    "[{}]|a{",
  ])("%p", (pattern) => {
    expect(catastrophicShape(pattern)).toBeNull();
  });

  test("every shared tokenizer fixture (BERT, RoBERTa, ModernBERT, DeBERTa-v3, XLM-R) has no unsafe regex", () => {
    const dirs = readdirSync(TOKENIZER_FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(dirs.length).toBeGreaterThanOrEqual(6);
    for (const d of dirs) {
      const definition = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, d.name, "tokenizer.json"), "utf8"));
      expect([d.name, unsafeTokenizerRegexes(definition)]).toEqual([d.name, []]);
    }
  });
});

test("regexes are found through Sequences of the normalizer and pre-tokenizer, with where they are", () => {
  const definition = {
    normalizer: { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { Regex: " {2,}" } }] },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { String: "x" } },
        { type: "Split", pattern: { Regex: "(a+)+$" } },
      ],
    },
    decoder: { type: "Replace", pattern: { Regex: "(b+)+" } },
  };
  expect(tokenizerRegexes(definition)).toEqual([
    { where: "normalizer.normalizers[1] (Replace)", pattern: " {2,}" },
    { where: "pre_tokenizer.pretokenizers[1] (Split)", pattern: "(a+)+$" },
  ]);
  expect(unsafeTokenizerRegexes(definition).map((u) => u.pattern)).toEqual(["(a+)+$"]);
});
