import { describe, expect, test } from "bun:test";
import { parseBatchArgs, UsageError } from "./args.ts";

const base = ["--input", "in.jsonl", "--output", "out.parquet"];

describe("bun run classify's flags", () => {
  test("defaults: text and id columns, every model, one shard, the top label, errors beside the output", () => {
    expect(parseBatchArgs(base)).toEqual({
      input: { path: "in.jsonl", format: "jsonl" },
      output: { path: "out.parquet", format: "parquet" },
      errors: { path: "out.parquet.errors.jsonl", format: "jsonl" },
      columns: { text: "text", pair: null, id: "id" },
      models: null,
      engines: null,
      shard: { index: 0, count: 1 },
      topK: { kind: "top" },
      rawScores: false,
      chunkRows: 1024,
    });
  });

  test("every flag as the Helm Job passes it", () => {
    const args = parseBatchArgs([
      ...["--input", "a.csv", "--output", "b.CSV", "--errors", "bad.parquet"],
      ...["--text-column", "body", "--pair-column", "hyp", "--id-column", "key"],
      ...["--models", "x, y", "--engines", "/engines", "--shard", "3/8", "--top-k", "all", "--raw-scores"],
      ...["--chunk-rows", "500"],
    ]);
    expect(args).toMatchObject({
      input: { format: "csv" },
      output: { format: "csv" },
      errors: { path: "bad.parquet", format: "parquet" },
      columns: { text: "body", pair: "hyp", id: "key" },
      models: ["x", "y"],
      engines: "/engines",
      shard: { index: 3, count: 8 },
      topK: { kind: "ranked", k: "all" },
      rawScores: true,
      chunkRows: 500,
    });
    expect(parseBatchArgs([...base, "--top-k", "3"])?.topK).toEqual({ kind: "ranked", k: 3 });
  });

  test("--help asks for the usage", () => {
    expect(parseBatchArgs(["--help"])).toBeNull();
  });

  test.each([
    [[], "--input FILE is required"],
    [["--input", "a.jsonl"], "--output FILE is required"],
    [["--input", "a.txt", "--output", "b.jsonl"], "--input a.txt: the extension must be .jsonl, .csv or .parquet"],
    [[...base, "--shard", "4/4"], "--shard must be i/N with 0 ≤ i < N"],
    [[...base, "--shard", "1/0"], "--shard must be i/N"],
    [[...base, "--shard=-1/2"], "--shard must be i/N"],
    [[...base, "--shard", "a/b"], "--shard must be i/N"],
    [[...base, "--top-k", "0"], "--top-k must be a positive integer"],
    [[...base, "--chunk-rows", "0"], "--chunk-rows must be an integer from 1"],
    [[...base, "--models", "a,,b"], "--models must be model keys"],
    [[...base, "--pair-column", "text"], "must name different columns"],
    [["--input", "x.jsonl", "--output", "./x.jsonl"], "must be different files"],
    [[...base, "--unknown"], "Unknown option '--unknown'"],
  ])("refused: %p", (argv, message) => {
    expect(() => parseBatchArgs(argv as string[])).toThrow(UsageError);
    expect(() => parseBatchArgs(argv as string[])).toThrow(message);
  });
});
