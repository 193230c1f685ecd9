import { describe, expect, test } from "bun:test";
import type { ExternalRange } from "../../lib/onnx/external-data.ts";
import type { ModelRecord, WeightProof } from "../../lib/store/index.ts";
import { dataFileReads, ModelFileMismatch } from "./model-files.ts";

const weight = (name: string, shape: number[], onnxSha256: string): WeightProof => ({
  name,
  shape,
  dtype: "F32",
  sha256: onnxSha256,
  onnxSha256,
});
const converted = {
  onnx: { model: "model.onnx", data: "model.onnx.data" },
  weightProof: "byte-identical",
  weights: [weight("embeddings", [10, 4], "e".repeat(64)), weight("bias", [2], "b".repeat(64))],
  files: {},
} as unknown as ModelRecord;
// As the converter lays them out: page-aligned, in the graph's order.
const ranges: ExternalRange[] = [
  { name: "embeddings", dims: [10, 4], location: "model.onnx.data", offset: 0, length: 160 },
  { name: "bias", dims: [2], location: "model.onnx.data", offset: 4096, length: 8 },
];
const files = { model: "/e/m/model.onnx", data: "/e/m/model.onnx.data", dataBytes: 4104 };

const mismatch = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFileMismatch);
    return (e as Error).message;
  }
  throw new Error("no mismatch");
};

describe("a model's weights file against engine.json", () => {
  test("sha256: each proven weight's range, with the hash engine.json records, in file order", () => {
    expect(dataFileReads({ mode: "sha256", record: converted }, [...ranges].reverse(), files)).toEqual([
      { what: "weight embeddings", offset: 0, length: 160, sha256: "e".repeat(64) },
      { what: "weight bias", offset: 4096, length: 8, sha256: "b".repeat(64) },
    ]);
  });

  test("size: nothing to read once the ranges fit the file", () => {
    expect(dataFileReads({ mode: "size", record: converted }, ranges, files)).toEqual([]);
  });

  test("a file shorter than the furthest range fails in either mode, naming the file and what to do", () => {
    const message = mismatch(() =>
      dataFileReads({ mode: "size", record: converted }, ranges, { ...files, dataBytes: 4100 }),
    );
    expect(message).toMatch(/^\/e\/m\/model\.onnx\.data: is 4100 bytes, model\.onnx reads weights up to byte 4104/);
    expect(message).toMatch(/convert again \(`bun run convert`\)/);
  });

  test("a graph whose weights differ from the record's (missing, unproven, reshaped, elsewhere) fails, naming model.onnx", () => {
    const check = { mode: "size" as const, record: converted };
    expect(mismatch(() => dataFileReads(check, ranges.slice(0, 1), files))).toMatch(/has no external weight bias/);
    const extra = { ...ranges[1], name: "extra", offset: 8192 };
    expect(mismatch(() => dataFileReads(check, [...ranges, extra], { ...files, dataBytes: 8200 }))).toMatch(
      /holds weight extra, which engine.json has no hash of/,
    );
    const reshaped = [ranges[0], { ...ranges[1], dims: [1, 2] }];
    expect(mismatch(() => dataFileReads(check, reshaped, files))).toMatch(
      /has bias of shape \[1,2\], engine.json \[2\]/,
    );
    const elsewhere = [ranges[0], { ...ranges[1], location: "other.bin" }];
    expect(mismatch(() => dataFileReads(check, elsewhere, files))).toMatch(
      /^\/e\/m\/model\.onnx: reads bias from other\.bin, engine.json names model\.onnx\.data/,
    );
  });

  test("a model served as given: the whole file against its recorded sha256, or nothing when there is none", () => {
    const given = {
      ...converted,
      weightProof: "not applicable: served as given",
      weights: [],
    } as unknown as ModelRecord;
    const withHash = { ...given, files: { "model.onnx.data": "f".repeat(64) } };
    expect(dataFileReads({ mode: "sha256", record: withHash }, ranges, files)).toEqual([
      { what: "the file", offset: 0, length: 4104, sha256: "f".repeat(64) },
    ]);
    expect(dataFileReads({ mode: "sha256", record: given }, ranges, files)).toEqual([]);
  });
});
