/** A graph built here from the model's checkpoint (the other source: onnx-as-given.ts). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ModelRecord, WeightProof } from "../../lib/store/index.ts";
import { openCheckpoint, WEIGHT_FILES, type CheckpointTensor } from "../checkpoint/index.ts";
import { ConvertError } from "../errors.ts";
import { sha256, sha256File } from "../hash.ts";
import { OPSET } from "../onnx/graph.ts";
import { readModel, writeModelSharingData, writeModelWithExternalData } from "../onnx/model-file.ts";
import type { Architecture, ClassifierConfig } from "../onnx/registry.ts";
import { countNonZeroF32, type GraphSource } from "./graph-source.ts";

/** The packed graph's file (convert/onnx/rows.ts), beside model.onnx and reading its data file. */
const PACKED_MODEL_FILE = "model.packed.onnx";

/** A graph built here from the checkpoint, every weight it uses proven byte-identical. */
export function builtModel(
  dir: string,
  { arch, config: cfg }: { arch: Architecture; config: ClassifierConfig },
): GraphSource {
  return {
    config: cfg,
    files() {
      const weightsName = WEIGHT_FILES.find((f) => existsSync(join(dir, f)));
      if (!weightsName) throw new ConvertError(dir, `no weights: expected one of ${WEIGHT_FILES.join(", ")}`);
      return Object.fromEntries(["config.json", weightsName].map((f) => [f, sha256File(join(dir, f))]));
    },
    async write(tmp, afterWrite) {
      const checkpoint = openCheckpoint(dir);
      const { graph, used } = arch.build(cfg, checkpoint, "padded");
      const written = writeModelWithExternalData(tmp, graph);
      // The same weights in a packed graph (rows without padding), over the file just written.
      const packed = arch.build(cfg, checkpoint, "packed");
      const packedModel = writeModelSharingData(tmp, packed.graph, PACKED_MODEL_FILE, written);
      afterWrite?.(tmp);
      const { weights, parameters } = proveWeightsUnaltered(used, written.model);
      // Proven the same way through the packed graph: each weight it reads hashes as the checkpoint's.
      proveWeightsUnaltered(packed.used, packedModel);
      return {
        onnx: {
          model: "model.onnx",
          data: "model.onnx.data",
          opset: OPSET,
          modelSha256: sha256File(written.model),
          inputs: cfg.inputs,
          inputType: "int64",
          outputs: ["logits"],
          packed: {
            model: PACKED_MODEL_FILE,
            modelSha256: sha256File(packedModel),
            inputs: packed.graph.inputNames(),
          },
        },
        parameters,
        weightProof: "byte-identical",
        weights,
      };
    },
  };
}

/**
 * The proof that the weights are as published: every checkpoint tensor the graph uses is hashed,
 * and so is the initializer read back from the written files; any difference fails the conversion.
 */
function proveWeightsUnaltered(
  used: CheckpointTensor[],
  modelPath: string,
): { weights: WeightProof[]; parameters: ModelRecord["parameters"] } {
  const { initializers } = readModel(modelPath);
  const weights: WeightProof[] = [];
  let total = 0;
  let nonZero = 0;
  let bytes = 0;
  for (const t of used) {
    const init = initializers.get(t.name);
    if (!init) throw new ConvertError(modelPath, `initializer ${t.name} is missing`);
    if (init.dims.join("x") !== t.shape.join("x"))
      throw new ConvertError(modelPath, `initializer ${t.name} has shape [${init.dims}], the checkpoint [${t.shape}]`);
    const stored = init.bytes();
    const proof: WeightProof = {
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      sha256: sha256(t.bytes()),
      onnxSha256: sha256(stored),
    };
    if (proof.sha256 !== proof.onnxSha256)
      throw new ConvertError(
        modelPath,
        `initializer ${t.name} differs from the checkpoint (sha256 ${proof.onnxSha256} ≠ ${proof.sha256})`,
      );
    weights.push(proof);
    const n = stored.byteLength / 4;
    total += n;
    bytes += stored.byteLength;
    nonZero += countNonZeroF32(stored);
  }
  return { weights, parameters: { total, nonZero, bytes } };
}
