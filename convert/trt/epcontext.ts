import { writeFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { onnx } from "onnx-proto";
import { ConvertError } from "../errors.ts";
import { ElemType, valueInfo } from "../onnx/graph.ts";
import { readModel } from "../onnx/model-file.ts";

/** A graph input or output, named and typed as the engine's (taken from the plain ONNX model). */
export interface IoSpec {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

export interface EpContextSpec {
  /** Engine file, relative to the wrapper model: onnxruntime refuses absolute paths and "..". */
  engineFile: string;
  inputs: IoSpec[];
  outputs: IoSpec[];
  /** "75" for sm_75; onnxruntime compares it with the running GPU and warns on a mismatch. */
  hardwareArchitecture: string;
  /** The plain model the engine was built from (informational; onnxruntime reads it only to refit stripped engines). */
  onnxModelFilename: string;
}

const DOMAIN = "com.microsoft";

/**
 * The EPContext model onnxruntime's TensorRT EP loads a precompiled engine through: one
 * com.microsoft EPContext node, embed_mode 0 (the engine stays in its own file, read at load).
 */
export function epContextModel(spec: EpContextSpec): onnx.IModelProto {
  if (isAbsolute(spec.engineFile) || spec.engineFile.includes(".."))
    throw new ConvertError(spec.engineFile, "the engine path must be relative to the model, without ..");
  const T = onnx.AttributeProto.AttributeType;
  const str = (name: string, s: string): onnx.IAttributeProto => ({
    name,
    type: T.STRING,
    s: new TextEncoder().encode(s),
  });
  return {
    irVersion: 8,
    producerName: "convert --trt",
    opsetImport: [
      { domain: "", version: 17 },
      { domain: DOMAIN, version: 1 },
    ],
    graph: {
      name: "tensorrt_engine",
      node: [
        {
          name: "tensorrt_engine",
          opType: "EPContext",
          domain: DOMAIN,
          input: spec.inputs.map((i) => i.name),
          output: spec.outputs.map((o) => o.name),
          attribute: [
            { name: "embed_mode", type: T.INT, i: 0 },
            str("ep_cache_context", spec.engineFile),
            str("hardware_architecture", spec.hardwareArchitecture),
            str("onnx_model_filename", spec.onnxModelFilename),
          ],
        },
      ],
      input: spec.inputs.map((i) => valueInfo(i.name, i.elemType, i.dims)),
      output: spec.outputs.map((o) => valueInfo(o.name, o.elemType, o.dims)),
    },
  };
}

export function writeEpContextModel(file: string, spec: EpContextSpec): void {
  writeFileSync(file, onnx.ModelProto.encode(onnx.ModelProto.create(epContextModel(spec))).finish());
}

/** The graph inputs and outputs of a plain ONNX model, so the wrapper declares exactly what the engine was built from. */
export function graphIo(modelPath: string): { inputs: IoSpec[]; outputs: IoSpec[] } {
  const { model, initializers } = readModel(modelPath);
  // A dimension with neither a value nor a name (an ONNX model brought as it is may have one) stays dynamic.
  const dim = (d: onnx.TensorShapeProto.IDimension, name: string, i: number) =>
    (d as onnx.TensorShapeProto.Dimension).value === "dimValue" ? Number(d.dimValue) : d.dimParam || `${name}_dim${i}`;
  const spec = (v: onnx.IValueInfoProto): IoSpec => ({
    name: v.name ?? "",
    elemType: v.type?.tensorType?.elemType ?? ElemType.UNDEFINED,
    dims: (v.type?.tensorType?.shape?.dim ?? []).map((d, i) => dim(d, v.name ?? "", i)),
  });
  return {
    inputs: (model.graph?.input ?? []).filter((i) => !initializers.has(i.name ?? "")).map(spec),
    outputs: (model.graph?.output ?? []).map(spec),
  };
}

/** "7.5" → "75", the form onnxruntime's TensorRT EP compares. */
export const smArchitecture = (computeCapability: string) => computeCapability.replace(".", "");
