import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTokenizer } from "../../lib/tokenizer/template.ts";
import { tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { chooseTokenizer, definitionHash } from "./tokenizer-family.ts";

/** bert-base-uncased as a repository that ships only vocab.txt + tokenizer_config.json. */
function vocabOnly(config?: Record<string, unknown>): string {
  const dir = join(tempDir("bert-vocab"), "m");
  cpSync(join(TOKENIZER_FIXTURES, "bert-base-uncased"), dir, { recursive: true });
  rmSync(join(dir, "tokenizer.json"));
  if (config) writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config));
  return dir;
}

describe("tokenizer.json written from vocab.txt, as transformers' BertConverter builds it", () => {
  test("bert-base-uncased: the same definition as the Hub's tokenizer.json, and exactly the 90 reference ids", async () => {
    const choice = chooseTokenizer({ key: "m", dir: vocabOnly() });
    expect(choice.source).toMatch(/written from vocab\.txt/);
    expect(choice.definition).toBe(definitionHash(join(TOKENIZER_FIXTURES, "bert-base-uncased", "tokenizer.json")));
    const expected = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, "bert-base-uncased-expected.json"), "utf8"));
    const tok = loadTokenizer(choice.dir);
    tok.setTruncation(expected.max_length); // as transformers truncates: the text's end, the template kept
    const ids = await Promise.all(
      expected.cases.map(async (c: { text: string }) => (await tok.encode(c.text)).getIds()),
    );
    const wrong = expected.cases.filter(
      (c: { input_ids: number[] }, i: number) => JSON.stringify(Array.from(ids[i])) !== JSON.stringify(c.input_ids),
    );
    expect(wrong).toEqual([]);
  });

  test("the config decides: a cased model keeps capitals and accents, and is another definition", async () => {
    const cased = chooseTokenizer({
      key: "m",
      dir: vocabOnly({ tokenizer_class: "BertTokenizer", do_lower_case: false }),
    });
    const t = JSON.parse(readFileSync(join(cased.dir, "tokenizer.json"), "utf8"));
    expect(t.normalizer).toEqual({
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: false,
    });
    expect(cased.definition).not.toBe(definitionHash(join(TOKENIZER_FIXTURES, "bert-base-uncased", "tokenizer.json")));
    const tok = loadTokenizer(cased.dir);
    expect((await tok.encode("Hello")).getTokens()).toEqual(["[CLS]", "[UNK]", "[SEP]"]); // no "Hello" in an uncased vocabulary
  });

  test("a vocabulary without the special tokens its config names is refused, naming vocab.txt", () => {
    const dir = vocabOnly({ tokenizer_class: "BertTokenizer", cls_token: "<cls>" });
    expect(() => chooseTokenizer({ key: "m", dir })).toThrow(/vocab\.txt: has no <cls>/);
  });

  test("a tokenizer.json whose config says otherwise is tokenized as transformers' fast BERT tokenizer re-sets it", async () => {
    // The uncased tokenizer.json, in a repository whose tokenizer_config.json says do_lower_case: false.
    const dir = join(tempDir("bert-cased-config"), "m");
    cpSync(join(TOKENIZER_FIXTURES, "bert-base-uncased"), dir, { recursive: true });
    writeFileSync(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({ tokenizer_class: "BertTokenizer", do_lower_case: false }),
    );
    const choice = chooseTokenizer({ key: "m", dir });
    expect(choice.source).toMatch(/BertNormalizer set as tokenizer_config\.json says/);
    expect(choice.definition).not.toBe(definitionHash(join(TOKENIZER_FIXTURES, "bert-base-uncased", "tokenizer.json")));
    expect((await loadTokenizer(choice.dir).encode("Hello")).getTokens()).toEqual(["[CLS]", "[UNK]", "[SEP]"]);
    // The fixture's own config agrees with its tokenizer.json: used as it is.
    expect(chooseTokenizer({ key: "u", dir: join(TOKENIZER_FIXTURES, "bert-base-uncased") }).source).toBe(
      "own tokenizer.json",
    );
  });
});
