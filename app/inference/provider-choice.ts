/**
 * Which execution provider runs a model, decided from facts only (pure, unit-tested):
 * - TensorRT through the model's EPContext wrapper, when an engine was built from this very ONNX
 *   model, with the TensorRT version the runtime has, for this GPU's compute capability;
 * - else CUDA, when there is a GPU and the CUDA provider library: on the packed graph (usesPacked);
 * - else CPU, on the packed graph when the model has one (usesPacked).
 * TensorRT is never used on the plain ONNX model: onnxruntime-node cannot pass it shape profiles or
 * an engine cache, so it would build a new engine for every new input shape.
 * The answer is a list: the worker loads the first candidate, and falls back to the next when
 * loading fails (a broken driver, an engine that does not deserialize).
 */
import type { ExecutionProvider } from "../config.ts";
import type { HostGpuFacts } from "../../lib/gpu/probe.ts";
import { MAX_PACKED_TOKENS } from "../../lib/gpu/packing.ts";
import { releaseOf } from "../../lib/gpu/stack.ts";
import type { PackedGraph, TrtEngineRecord } from "../../lib/store/index.ts";

export interface ProviderCandidate {
  provider: ExecutionProvider;
  /** Model file, relative to the model's folder. */
  model: string;
  /** Set when `model` is the packed graph (usesPacked): the rows are concatenated, fed as it takes them. */
  packed?: PackedGraph;
  /** Shapes the loaded engine accepts; the batcher never sends more rows or longer rows. */
  limits?: { maxBatch: number; maxSequence: number };
}

export interface ProviderChoice {
  candidates: ProviderCandidate[];
  /** Preferred providers passed over, and why (logged, and shown by readiness). */
  passedOver: { provider: ExecutionProvider; reason: string }[];
}

export interface ModelFiles {
  onnxModel: string;
  onnxSha256: string;
  /** The packed graph convert built beside the padded one (engine.json's onnx.packed), if any. */
  packed?: PackedGraph;
  trt?: TrtEngineRecord;
}

/**
 * Whether a worker on `provider` runs the model's packed graph (rows concatenated, no padding) rather
 * than the padded one: the one switch. On the CPU a batch costs its tokens, padding included, so the
 * packed graph runs whenever convert built one. On CUDA, as the simulated T4 decided (lib/gpu/packing.ts:
 * a cap above 0). TensorRT keeps the padded graph: its engine is built from the padded graph's shapes,
 * and no engine is built from the packed one.
 */
export function usesPacked(provider: ExecutionProvider, model: Pick<ModelFiles, "packed">): boolean {
  if (model.packed === undefined) return false;
  return provider === "cpu" || (provider === "cuda" && MAX_PACKED_TOKENS.cuda > 0);
}

/** The candidate on `provider` running `file` (the padded graph), or the packed graph where usesPacked says so. */
function candidate(provider: ExecutionProvider, file: string, model: ModelFiles): ProviderCandidate {
  return usesPacked(provider, model) && model.packed
    ? { provider, model: model.packed.model, packed: model.packed }
    : { provider, model: file };
}

export function chooseProviders(
  preferences: ExecutionProvider[],
  model: ModelFiles,
  host: HostGpuFacts,
): ProviderChoice {
  const candidates: ProviderCandidate[] = [];
  const passedOver: ProviderChoice["passedOver"] = [];
  const noGpu = host.gpu ? null : `no GPU (${host.gpuError ?? "none found"})`;
  for (const p of preferences) {
    if (p === "cpu" || candidates.some((c) => c.provider === p)) continue;
    const why =
      p === "tensorrt"
        ? tensorrtObstacle(model, host, noGpu)
        : (noGpu ??
          (host.providerLibs.cuda
            ? null
            : "onnxruntime's CUDA provider library is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12)"));
    if (why) {
      passedOver.push({ provider: p, reason: why });
      continue;
    }
    if (p === "tensorrt") {
      const t = model.trt;
      if (!t)
        throw new Error("TensorRT chosen for a model without an engine: tensorrtObstacle should have passed it over");
      candidates.push({
        provider: "tensorrt",
        model: t.contextModel,
        limits: { maxBatch: t.profile.maxBatch, maxSequence: t.profile.maxSequence },
      });
    } else candidates.push(candidate("cuda", model.onnxModel, model));
  }
  candidates.push(candidate("cpu", model.onnxModel, model));
  return { candidates, passedOver };
}

function tensorrtObstacle(model: ModelFiles, host: HostGpuFacts, noGpu: string | null): string | null {
  const t = model.trt;
  if (!t) return "no TensorRT engine was built for this model (bun run convert --trt)";
  if (t.onnxSha256 !== model.onnxSha256)
    return "the TensorRT engine was built from an older ONNX model (run bun run convert --trt again)";
  if (!host.gpu) return noGpu;
  if (!host.providerLibs.tensorrt)
    return "onnxruntime's TensorRT provider library is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12)";
  if (!host.tensorrt) return "no TensorRT runtime library (libnvinfer.so.<version>) on the library path";
  if (releaseOf(t.tensorrtVersion) !== releaseOf(host.tensorrt))
    return `the engine was built with TensorRT ${t.tensorrtVersion}, the runtime has ${host.tensorrt}`;
  if (t.computeCapability !== host.gpu.computeCapability)
    return `the engine was built for compute capability ${t.computeCapability} (${t.gpu}), this GPU is ${host.gpu.computeCapability} (${host.gpu.name})`;
  return null;
}
