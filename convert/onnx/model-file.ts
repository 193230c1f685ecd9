import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { onnx } from "onnx-proto";
import { ConvertError } from "../errors.ts";
import type { GraphBuilder } from "./graph.ts";

/** Page-aligned offsets let onnxruntime map weights straight from the file. */
const ALIGN = 4096;

/**
 * Writes `model.onnx` (graph only, a few hundred kB) and its external data file, one tensor at a
 * time: a 1.1 GB model is never one protobuf, nor one buffer, in memory.
 */
export function writeModelWithExternalData(
  dir: string,
  graph: GraphBuilder,
  modelFile = "model.onnx",
): { model: string; data: string; layout: Map<string, number> } {
  const dataFile = `${modelFile}.data`;
  const layout = new Map<string, number>();
  let end = 0;
  for (const t of graph.external) {
    end = Math.ceil(end / ALIGN) * ALIGN;
    layout.set(t.name, end);
    end += t.byteLength;
  }
  const fd = openSync(join(dir, dataFile), "w");
  try {
    for (const t of graph.external) {
      const bytes = t.bytes();
      if (bytes.byteLength !== t.byteLength)
        throw new ConvertError(t.name, `holds ${bytes.byteLength} bytes, expected ${t.byteLength}`);
      const offset = layout.get(t.name);
      if (offset === undefined) throw new Error(`${t.name}: written before its offset was laid out`);
      writeSync(fd, bytes, 0, bytes.byteLength, offset);
    }
  } finally {
    closeSync(fd);
  }
  const model = onnx.ModelProto.encode(onnx.ModelProto.create(graph.toModel(dataFile, layout))).finish();
  writeFileSync(join(dir, modelFile), model);
  return { model: join(dir, modelFile), data: join(dir, dataFile), layout };
}

/**
 * Writes a second graph over the weights another one already wrote (`dataFile` at `layout`, as
 * writeModelWithExternalData returned it): the packed graph beside the padded one, one copy of the
 * weights on disk. Every weight it reads must be in that
 * file; the weight proof then reads them back through this graph.
 */
export function writeModelSharingData(
  dir: string,
  graph: GraphBuilder,
  modelFile: string,
  shared: { data: string; layout: Map<string, number> },
): string {
  const dataFile = basename(shared.data);
  for (const t of graph.external)
    if (!shared.layout.has(t.name))
      throw new ConvertError(join(dir, modelFile), `reads weight ${t.name}, which ${dataFile} does not hold`);
  const model = onnx.ModelProto.encode(onnx.ModelProto.create(graph.toModel(dataFile, shared.layout))).finish();
  writeFileSync(join(dir, modelFile), model);
  return join(dir, modelFile);
}

export interface StoredInitializer {
  name: string;
  dims: number[];
  dataType: number;
  bytes(): Uint8Array;
}

/** Reads a model back as onnxruntime will: initializers resolved through their external data. */
export function readModel(modelPath: string): { model: onnx.ModelProto; initializers: Map<string, StoredInitializer> } {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(readFileSync(modelPath));
  } catch (e) {
    throw new ConvertError(modelPath, `not an ONNX model (${(e as Error).message})`);
  }
  const maps = new Map<string, Uint8Array>();
  const initializers = new Map<string, StoredInitializer>();
  for (const t of model.graph?.initializer ?? []) {
    const dims = (t.dims ?? []).map(Number);
    const name = t.name ?? "";
    let bytes: () => Uint8Array;
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      const location = kv.location ?? "";
      const offset = Number(kv.offset ?? 0);
      const length = Number(kv.length);
      const file = join(dirname(modelPath), location);
      bytes = () => {
        let m = maps.get(file);
        if (!m) {
          if (!existsSync(file)) throw new ConvertError(modelPath, `external data ${location} is missing`);
          m = Bun.mmap(file, { shared: false });
          maps.set(file, m);
        }
        if (offset + length > m.byteLength)
          throw new ConvertError(file, `initializer ${name} runs past the end of the file`);
        return m.subarray(offset, offset + length);
      };
    } else {
      const raw = t.rawData ?? new Uint8Array();
      bytes = () => raw;
    }
    initializers.set(name, { name, dims, dataType: t.dataType ?? 0, bytes });
  }
  return { model, initializers };
}
