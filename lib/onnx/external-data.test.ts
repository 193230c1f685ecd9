import { describe, expect, test } from "bun:test";
import { onnx } from "onnx-proto";
import { externalRanges } from "./external-data.ts";

const external = (name: string, dims: number[], kv: Record<string, string>): onnx.ITensorProto => ({
  name,
  dims,
  dataType: onnx.TensorProto.DataType.FLOAT,
  dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
  externalData: Object.entries(kv).map(([key, value]) => ({ key, value })),
});
const modelBytes = (initializer: onnx.ITensorProto[]) =>
  onnx.ModelProto.encode(onnx.ModelProto.create({ graph: { initializer } })).finish();

describe("external data ranges", () => {
  test("each external initializer's file, offset and length, in the graph's order; inline ones are not listed", () => {
    const bytes = modelBytes([
      external("w", [2, 3], { location: "model.onnx.data", offset: "4096", length: "24" }),
      { name: "inline", dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(4) },
      external("b", [3], { location: "model.onnx.data", length: "12" }),
    ]);
    expect(externalRanges(bytes)).toEqual([
      { name: "w", dims: [2, 3], location: "model.onnx.data", offset: 4096, length: 24 },
      { name: "b", dims: [3], location: "model.onnx.data", offset: 0, length: 12 },
    ]);
  });

  test("a length the file leaves out is the tensor's size, as onnxruntime reads it", () => {
    const bytes = modelBytes([external("w", [5, 7], { location: "weights.bin", offset: "8" })]);
    expect(externalRanges(bytes)[0]).toMatchObject({ offset: 8, length: 5 * 7 * 4 });
  });

  test("an initializer without a location or with a negative offset is refused, naming it", () => {
    expect(() => externalRanges(modelBytes([external("w", [1], { offset: "0" })]))).toThrow(/initializer w/);
    expect(() =>
      externalRanges(modelBytes([external("v", [1], { location: "d", offset: "-4", length: "4" })])),
    ).toThrow(/initializer v has unreadable external data/);
  });
});
