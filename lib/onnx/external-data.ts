/**
 * Where a model file's initializers keep their bytes outside the graph (ONNX's external-data
 * convention: location, offset, length per tensor), read with onnx-proto alone, so the service can
 * check the weights it loads without the converter.
 */
import { onnx } from "onnx-proto";

/** One initializer stored in an external file: bytes [offset, offset + length) of `location`. */
export interface ExternalRange {
  name: string;
  dims: number[];
  /** Relative to the model file's folder, as the model file says it. */
  location: string;
  offset: number;
  length: number;
}

const T = onnx.TensorProto.DataType;
/** Bytes per element of the fixed-size ONNX element types (a tensor without a recorded length needs them). */
const ELEMENT_BYTES: Partial<Record<number, number>> = {
  [T.FLOAT]: 4,
  [T.UINT8]: 1,
  [T.INT8]: 1,
  [T.UINT16]: 2,
  [T.INT16]: 2,
  [T.INT32]: 4,
  [T.INT64]: 8,
  [T.BOOL]: 1,
  [T.FLOAT16]: 2,
  [T.DOUBLE]: 8,
  [T.UINT32]: 4,
  [T.UINT64]: 8,
  [T.BFLOAT16]: 2,
};

/**
 * The external initializers of a serialized ModelProto, in the order the graph lists them. A length
 * the file leaves out (exporters may) is the tensor's size, as onnxruntime reads it. Throws on a file
 * that is not a model, or a range it could not be read from.
 */
export function externalRanges(modelBytes: Uint8Array): ExternalRange[] {
  const model = onnx.ModelProto.decode(modelBytes);
  return (model.graph?.initializer ?? [])
    .filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    .map((t) => {
      const name = t.name ?? "";
      const dims = (t.dims ?? []).map(Number);
      const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      const element = ELEMENT_BYTES[t.dataType ?? 0];
      const length = kv.length ? Number(kv.length) : element ? dims.reduce((n, d) => n * d, element) : NaN;
      const offset = Number(kv.offset ?? 0);
      if (!kv.location || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
        throw new Error(`initializer ${name} has unreadable external data (${JSON.stringify(kv)})`);
      return { name, dims, location: kv.location, offset, length };
    });
}
