import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { chooseTokenizer, definitionHash } from "./tokenizer-family.ts";

const file = (text: string) => {
  const path = join(tempDir("definition"), "tokenizer.json");
  writeFileSync(path, text);
  return path;
};
const model = (score: string) => `{"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁a", ${score}]]}`;

describe("tokenizer definition hash", () => {
  test("key order, white space and the parts that do not decide ids (decoder, truncation) do not change it", () => {
    const a = file(`{"model": ${model("-1.5")}, "normalizer": null, "decoder": null, "truncation": null}`);
    const b = file(
      `{ "truncation": {"max_length": 8},\n "decoder": {"type": "Metaspace"},\n  "normalizer": null,\n "model": ${model("-1.5")} }`,
    );
    expect(definitionHash(a)).toBe(definitionHash(b));
  });

  test("a changed piece score, normalizer or added token changes it", () => {
    const base = definitionHash(file(`{"model": ${model("-1.5")}}`));
    expect(definitionHash(file(`{"model": ${model("-1.25")}}`))).not.toBe(base);
    expect(definitionHash(file(`{"model": ${model("-1.5")}, "normalizer": {"type": "NFKC"}}`))).not.toBe(base);
    expect(definitionHash(file(`{"model": ${model("-1.5")}, "added_tokens": [{"id": 1, "content": "<s>"}]}`))).not.toBe(
      base,
    );
  });

  test("a number spelt differently is another definition, even when JavaScript reads the same value (Rust may not)", () => {
    expect(Number("-1.50")).toBe(Number("-1.5"));
    expect(definitionHash(file(`{"model": ${model("-1.50")}}`))).not.toBe(
      definitionHash(file(`{"model": ${model("-1.5")}}`)),
    );
  });
});

test("the real DeBERTa-v3 (Unigram, charsmap) and ModernBERT (byte-level BPE) tokenizer.json files are used as they are", () => {
  for (const name of ["deberta-v3", "modernbert"]) {
    const dir = join(TOKENIZER_FIXTURES, name);
    expect(chooseTokenizer({ key: name, dir })).toEqual({
      key: name,
      dir,
      definition: definitionHash(join(dir, "tokenizer.json")),
      source: "own tokenizer.json",
    });
  }
}, 30_000);
