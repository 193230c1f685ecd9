import { MAX_PACKED_TOKENS } from "../../lib/gpu/packing.ts";
import { describe, expect, test } from "bun:test";
import type { HostGpuFacts } from "../../lib/gpu/probe.ts";
import type { TrtEngineRecord } from "../../lib/store/index.ts";
import { chooseProviders, type ModelFiles, usesPacked } from "./provider-choice.ts";

const T4 = { name: "Tesla T4", computeCapability: "7.5", driver: "550.127.05", memoryMiB: 15360 };
const A10G = { name: "NVIDIA A10G", computeCapability: "8.6", driver: "550.127.05", memoryMiB: 23028 };
const gpuHost = (over: Partial<HostGpuFacts> = {}): HostGpuFacts => ({
  gpu: T4,
  tensorrt: "10.8.0",
  providerLibs: { cuda: true, tensorrt: true },
  ...over,
});
const noGpu: HostGpuFacts = {
  gpu: null,
  gpuError: "nvidia-smi not found",
  tensorrt: null,
  providerLibs: { cuda: false, tensorrt: false },
};

const record = (over: Partial<TrtEngineRecord> = {}): TrtEngineRecord => ({
  engine: "model.engine",
  contextModel: "model_ctx.onnx",
  onnxSha256: "abc",
  tensorrtVersion: "10.8.0",
  gpu: "Tesla T4",
  computeCapability: "7.5",
  profile: { minBatch: 1, optBatch: 16, maxBatch: 32, minSequence: 1, optSequence: 64, maxSequence: 512 },
  precision: "fp32",
  image: "nvcr.io/nvidia/tensorrt:25.01-py3",
  command: [],
  engineSha256: "def",
  engineBytes: 1,
  buildSeconds: 1,
  builtAt: "",
  ...over,
});
const model = (trt?: TrtEngineRecord): ModelFiles => ({ onnxModel: "model.onnx", onnxSha256: "abc", trt });
const ALL = ["tensorrt", "cuda", "cpu"] as const;
const providers = (c: ReturnType<typeof chooseProviders>) => c.candidates.map((x) => `${x.provider}:${x.model}`);

describe("provider choice", () => {
  test("matching engine, TensorRT version and GPU: TensorRT through the EPContext model, with the profile's limits; CUDA and CPU behind it", () => {
    const c = chooseProviders([...ALL], model(record()), gpuHost());
    expect(providers(c)).toEqual(["tensorrt:model_ctx.onnx", "cuda:model.onnx", "cpu:model.onnx"]);
    expect(c.candidates[0].limits).toEqual({ maxBatch: 32, maxSequence: 512 });
    expect(c.passedOver).toEqual([]);
  });

  test("TensorRT version mismatch: CUDA on the plain model, and the reason names both versions", () => {
    const c = chooseProviders([...ALL], model(record({ tensorrtVersion: "10.7.0" })), gpuHost());
    expect(providers(c)).toEqual(["cuda:model.onnx", "cpu:model.onnx"]);
    expect(c.passedOver).toEqual([
      { provider: "tensorrt", reason: "the engine was built with TensorRT 10.7.0, the runtime has 10.8.0" },
    ]);
  });

  test("the build number does not matter, the release does (10.8.0.43 engine on a 10.8.0 library)", () => {
    expect(providers(chooseProviders([...ALL], model(record({ tensorrtVersion: "10.8.0.43" })), gpuHost()))[0]).toBe(
      "tensorrt:model_ctx.onnx",
    );
  });

  test("engine built for another GPU architecture: CUDA", () => {
    const c = chooseProviders([...ALL], model(record()), gpuHost({ gpu: A10G }));
    expect(providers(c)).toEqual(["cuda:model.onnx", "cpu:model.onnx"]);
    expect(c.passedOver[0].reason).toBe(
      "the engine was built for compute capability 7.5 (Tesla T4), this GPU is 8.6 (NVIDIA A10G)",
    );
  });

  test("engine built from an older ONNX model: stale, CUDA", () => {
    const c = chooseProviders([...ALL], model(record({ onnxSha256: "old" })), gpuHost());
    expect(c.passedOver[0].reason).toMatch(/older ONNX model/);
    expect(c.candidates[0].provider).toBe("cuda");
  });

  test("no engine built: CUDA; TensorRT is never run on the plain model", () => {
    const c = chooseProviders([...ALL], model(), gpuHost());
    expect(providers(c)).toEqual(["cuda:model.onnx", "cpu:model.onnx"]);
    expect(c.passedOver[0].reason).toMatch(/convert --trt/);
  });

  test("no GPU: CPU, with the reason for both GPU providers", () => {
    const c = chooseProviders([...ALL], model(record()), noGpu);
    expect(providers(c)).toEqual(["cpu:model.onnx"]);
    expect(c.passedOver).toEqual([
      { provider: "tensorrt", reason: "no GPU (nvidia-smi not found)" },
      { provider: "cuda", reason: "no GPU (nvidia-smi not found)" },
    ]);
  });

  test("a GPU but no onnxruntime GPU libraries or no libnvinfer: CPU, saying which is missing", () => {
    const c = chooseProviders([...ALL], model(record()), gpuHost({ providerLibs: { cuda: false, tensorrt: false } }));
    expect(providers(c)).toEqual(["cpu:model.onnx"]);
    expect(c.passedOver.map((p) => p.reason)).toEqual([
      expect.stringMatching(/TensorRT provider library/),
      expect.stringMatching(/CUDA provider library/),
    ]);
    expect(chooseProviders(["tensorrt"], model(record()), gpuHost({ tensorrt: null })).passedOver[0].reason).toMatch(
      /libnvinfer/,
    );
  });

  test("the configured order and subset are respected: cuda before tensorrt, or cpu only", () => {
    expect(providers(chooseProviders(["cuda", "tensorrt"], model(record()), gpuHost()))).toEqual([
      "cuda:model.onnx",
      "tensorrt:model_ctx.onnx",
      "cpu:model.onnx",
    ]);
    expect(providers(chooseProviders(["cpu"], model(record()), gpuHost()))).toEqual(["cpu:model.onnx"]);
  });
});

describe("the packed graph (rows concatenated, no padding): usesPacked, the one switch", () => {
  const packed = { model: "model.packed.onnx", modelSha256: "p", inputs: ["input_ids", "row_ids", "row_starts"] };
  const withPacked: ModelFiles = { ...model(record()), packed };

  test("the CPU, and CUDA as the simulated T4 decided (lib/gpu/packing.ts), run it when convert built one; TensorRT keeps its padded engine", () => {
    expect(MAX_PACKED_TOKENS.cuda).toBeGreaterThan(0);
    expect(ALL.map((p) => usesPacked(p, withPacked))).toEqual([false, true, true]);
    expect(usesPacked("cpu", model())).toBe(false);
    expect(usesPacked("cuda", model())).toBe(false);
    const c = chooseProviders([...ALL], withPacked, gpuHost());
    expect(providers(c)).toEqual(["tensorrt:model_ctx.onnx", "cuda:model.packed.onnx", "cpu:model.packed.onnx"]);
    expect(c.candidates.map((x) => x.packed?.inputs)).toEqual([undefined, packed.inputs, packed.inputs]);
  });

  test("a model without one (served as given, or converted before packed graphs) runs padded on the CPU too", () => {
    expect(providers(chooseProviders(["cpu"], model(), noGpu))).toEqual(["cpu:model.onnx"]);
  });
});
