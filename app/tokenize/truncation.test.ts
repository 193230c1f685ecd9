import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { FamilyTokenizer } from "./family-tokenizer.ts";
import { type EncodedRow, truncateRow } from "./truncation.ts";

interface Ids {
  input_ids: number[];
  token_type_ids: number[];
  attention_mask: number[];
}
interface PairCase extends Ids {
  text: string;
  text_pair: string;
  truncation_longest_first_32: Ids;
  truncation_only_first_32: Ids | { error: string };
}
type PairInput = { text: string; text_pair: string };
const FAMILIES = ["bert-base-uncased", "roberta-base", "xlmr-charsmap", "deberta-v3", "modernbert"] as const;
const cases = (family: string): PairCase[] =>
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `pairs-${family}-expected.json`), "utf8")).cases;
const idsOf = (r: EncodedRow) => ({ input_ids: Array.from(r.ids), token_type_ids: Array.from(r.typeIds) });
const expectedOf = (e: Ids) => ({ input_ids: e.input_ids, token_type_ids: e.token_type_ids });

/** The cases (first 30 characters) whose ids or token types differ from the fixture's. */
async function mismatches(
  family: string,
  pick: (c: PairCase) => Ids | { error: string },
  encode: (tok: FamilyTokenizer, pair: PairInput) => Promise<EncodedRow | null>,
  maxLength = Number.MAX_SAFE_INTEGER,
): Promise<string[]> {
  const tok = await FamilyTokenizer.load(family, join(TOKENIZER_FIXTURES, family), maxLength);
  const wrong: string[] = [];
  for (const c of cases(family)) {
    const want = pick(c);
    const got = await encode(tok, { text: c.text, text_pair: c.text_pair });
    const same = "error" in want ? got === null : got !== null && Bun.deepEquals(idsOf(got), expectedOf(want));
    if (!same) wrong.push(c.text.slice(0, 30));
  }
  return wrong;
}

describe("pairs are tokenized with the family's pair template and truncated as the Rust library truncates", () => {
  for (const family of FAMILIES) {
    test(`${family}: all 62 pairs, untruncated, with the template's token type ids`, async () => {
      expect(
        await mismatches(
          family,
          (c) => c,
          (tok, pair) => tok.encodeWhole(pair),
        ),
      ).toEqual([]);
      expect(
        await mismatches(
          family,
          (c) => c,
          (tok, pair) => tok.encodeRow(pair),
        ),
      ).toEqual([]);
    }, 30_000);

    test(`${family}: all 62 pairs as a family of maximum 32 gives them (longest_first)`, async () => {
      const pick = (c: PairCase) => c.truncation_longest_first_32;
      expect(await mismatches(family, pick, (tok, pair) => tok.encodeRow(pair), 32)).toEqual([]);
      // The fixtures do cut: the comparison is not vacuous.
      expect(cases(family).filter((c) => c.input_ids.length > 32).length).toBeGreaterThan(10);
    }, 30_000);

    test(`${family}: all 62 pairs truncated only_first at 32, null where the Rust library refuses`, async () => {
      const pick = (c: PairCase) => c.truncation_only_first_32;
      const cut = async (tok: FamilyTokenizer, pair: PairInput) =>
        truncateRow(await tok.encodeWhole(pair), 32, "only_first");
      expect(await mismatches(family, pick, cut)).toEqual([]);
      expect(cases(family).filter((c) => "error" in c.truncation_only_first_32).length).toBeGreaterThan(10);
    }, 30_000);
  }

  test("a row cut at 32 and cut again at 20 is the row cut at 20 at once: each model cuts its family's row", async () => {
    const tok = await FamilyTokenizer.load("bert", join(TOKENIZER_FIXTURES, "bert-base-uncased"), 32);
    const whole = await FamilyTokenizer.load("bert", join(TOKENIZER_FIXTURES, "bert-base-uncased"), 1e9);
    const wrong: string[] = [];
    for (const c of cases("bert-base-uncased")) {
      const pair = { text: c.text, text_pair: c.text_pair };
      const again = truncateRow(await tok.encodeRow(pair), 20) as EncodedRow;
      const once = truncateRow(await whole.encodeWhole(pair), 20) as EncodedRow;
      if (!Bun.deepEquals(idsOf(again), idsOf(once)) || again.ids.length > 20) wrong.push(c.text.slice(0, 30));
    }
    expect(wrong).toEqual([]);
  }, 30_000);

  test("a single text keeps its leading and trailing special tokens; an uncut row is returned as it is", () => {
    const row = {
      ids: Int32Array.of(0, 5, 6, 7, 2),
      typeIds: new Int32Array(5),
      spans: [{ start: 1, length: 3, full: 3 }],
    };
    expect(Array.from(truncateRow(row, 4)?.ids ?? [])).toEqual([0, 5, 6, 2]);
    expect(truncateRow(row, 5)).toBe(row);
  });
});
