import { describe, expect, test } from "bun:test";
import { checkRow, inShard, shardSize, type SourceRow } from "./rows.ts";

const row = (fields: Partial<SourceRow>): SourceRow => ({
  row: 4,
  id: "a",
  idKind: "VARCHAR",
  text: "hello",
  textKind: "VARCHAR",
  pair: null,
  pairKind: null,
  ...fields,
});

describe("an input row, checked", () => {
  test("a text, or a pair when a pair column is given; a numeric id as text; the empty text is a text", () => {
    expect(checkRow(row({}), false, 10)).toEqual({ row: 4, id: "a", input: "hello" });
    expect(checkRow(row({ pair: "there", pairKind: "VARCHAR" }), true, 10)).toEqual({
      row: 4,
      id: "a",
      input: { text: "hello", text_pair: "there" },
    });
    expect(checkRow(row({ id: "17", idKind: "BIGINT", text: "" }), false, 10)).toEqual({ row: 4, id: "17", input: "" });
  });

  test.each([
    [{ id: null, idKind: null }, "id is missing", null],
    [{ id: null, idKind: "NULL" }, "id is missing", null],
    [{ id: "" }, "id is empty", ""],
    [{ id: "[1]", idKind: "ARRAY" }, "id is not a string or a number (ARRAY)", "[1]"],
    [{ id: "{a: 1}", idKind: "STRUCT(a INTEGER)" }, "id is not a string or a number (STRUCT(a INTEGER))", "{a: 1}"],
    [{ id: "[1, 2]", idKind: "INTEGER[]" }, "id is not a string or a number (INTEGER[])", "[1, 2]"],
    [{ text: null, textKind: null }, "text is missing", "a"],
    [{ text: "5", textKind: "UBIGINT" }, "text is not a string (UBIGINT)", "a"],
    [{ text: "x".repeat(11) }, "text has 11 characters; the limit is 10 (MAX_TEXT_CHARS)", "a"],
  ])("refused with its reason, the id as it came: %p", (fields, reason, id) => {
    expect(checkRow(row(fields as Partial<SourceRow>), false, 10)).toEqual({ row: 4, id, reason } as never);
  });

  test("a JSON line that is not a record: not JSON at all, or JSON but not an object; a record is checked as any row", () => {
    expect(checkRow(row({ recordKind: null, id: null, idKind: null }), false, 10)).toEqual({
      row: 4,
      id: null,
      reason: "the line is not valid JSON",
    });
    expect(checkRow(row({ recordKind: "ARRAY", id: null, idKind: null }), false, 10)).toEqual({
      row: 4,
      id: null,
      reason: "the line is a JSON ARRAY, not an object",
    });
    expect(checkRow(row({ recordKind: "OBJECT" }), false, 10)).toEqual({ row: 4, id: "a", input: "hello" });
  });

  test("a pair column: its value is checked as the text is", () => {
    expect(checkRow(row({}), true, 10)).toMatchObject({ reason: "text_pair is missing" });
    expect(checkRow(row({ pair: "x".repeat(11), pairKind: "VARCHAR" }), true, 10)).toMatchObject({
      reason: "text_pair has 11 characters; the limit is 10 (MAX_TEXT_CHARS)",
    });
  });

  test("shards: row number mod N, every row in exactly one", () => {
    const shards = [0, 1, 2].map((index) => [...Array(10).keys()].filter((r) => inShard(r, { index, count: 3 })));
    expect(shards).toEqual([
      [0, 3, 6, 9],
      [1, 4, 7],
      [2, 5, 8],
    ]);
  });
});

describe("shards", () => {
  test("shardSize counts exactly the rows inShard takes, for every table size and shard", () => {
    for (let total = 0; total <= 20; total++)
      for (let count = 1; count <= 5; count++)
        for (let index = 0; index < count; index++) {
          const shard = { index, count };
          const taken = Array.from({ length: total }, (_, row) => row).filter((row) => inShard(row, shard)).length;
          expect({ total, shard, size: shardSize(total, shard) }).toEqual({ total, shard, size: taken });
        }
  });
});
