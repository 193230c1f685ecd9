import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer, type TruncationStrategy as RustStrategy } from "tokenizers";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { FamilyTokenizer } from "./family-tokenizer.ts";
import { type EncodedRow, type Truncation, truncateRow } from "./truncation.ts";

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
        truncateRow(await tok.encodeWhole(pair), 32, { strategy: "only_first", direction: "right" });
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

describe("truncation_direction left cuts each text's start, as the Rust library does with direction Left", () => {
  /** The Rust library's own cut of one text or a pair at 32, from the left. */
  const rustLeft = (family: string, strategy: "LongestFirst" | "OnlyFirst") => {
    const t = Tokenizer.fromFile(join(TOKENIZER_FIXTURES, family, "tokenizer.json"));
    t.setTruncation(32, {
      strategy: strategy as RustStrategy,
      direction: "left" /* the binding takes the lower-case name, not its enum's */,
    });
    return t;
  };
  const LEFT: Truncation = { strategy: "longest_first", direction: "left" };

  for (const family of FAMILIES)
    test(`${family}: the 62 pairs and their first texts alone, cut at 32 longest_first; the pairs only_first`, async () => {
      const tok = await FamilyTokenizer.load(family, join(TOKENIZER_FIXTURES, family), 32);
      const rust = rustLeft(family, "LongestFirst");
      const rustOnlyFirst = rustLeft(family, "OnlyFirst");
      const wrong: string[] = [];
      let cut = 0;
      for (const c of cases(family)) {
        const pair = { text: c.text, text_pair: c.text_pair };
        const checks: [string, EncodedRow | null, () => Promise<{ getIds(): number[]; getTypeIds(): number[] }>][] = [
          ["pair", await tok.encodeRow(pair, LEFT), () => rust.encode(c.text, c.text_pair)],
          ["text", await tok.encodeRow(c.text, LEFT), () => rust.encode(c.text)],
          [
            "only_first",
            truncateRow(await tok.encodeWhole(pair), 32, { strategy: "only_first", direction: "left" }),
            () => rustOnlyFirst.encode(c.text, c.text_pair),
          ],
        ];
        for (const [kind, ours, reference] of checks) {
          const want = await reference().then(
            (e) => ({ input_ids: e.getIds(), token_type_ids: e.getTypeIds() }),
            () => null, // only_first cannot fit: the Rust library refuses, truncateRow answers null
          );
          if (want && want.input_ids.length === 32) cut++;
          const same = want === null ? ours === null : ours !== null && Bun.deepEquals(idsOf(ours), want);
          if (!same) wrong.push(`${kind}: ${c.text.slice(0, 30)}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(cut).toBeGreaterThan(20); // the comparison cuts: it is not vacuous
    }, 30_000);

  test("a row cut left at 32, then at 20, is the row cut left at 20 at once", async () => {
    const tok = await FamilyTokenizer.load("bert", join(TOKENIZER_FIXTURES, "bert-base-uncased"), 32);
    const wrong: string[] = [];
    for (const c of cases("bert-base-uncased")) {
      const pair = { text: c.text, text_pair: c.text_pair };
      const again = truncateRow(await tok.encodeRow(pair, LEFT), 20, LEFT) as EncodedRow;
      const once = truncateRow(await tok.encodeWhole(pair), 20, LEFT) as EncodedRow;
      if (!Bun.deepEquals(idsOf(again), idsOf(once))) wrong.push(c.text.slice(0, 30));
    }
    expect(wrong).toEqual([]);
  }, 30_000);
});
