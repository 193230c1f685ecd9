import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/fixtures.ts";
import type { TrtEngineRecord } from "../../convert/trt/build.ts";
import { chooseProviders, type ModelFiles } from "./choice.ts";
import { parseNvidiaSmi, probeGpu, tensorrtRuntimeVersion, type HostGpuFacts } from "./probe.ts";

const T4 = { name: "Tesla T4", computeCapability: "7.5", driver: "550.127.05", memoryMiB: 15360 };
const A10G = { name: "NVIDIA A10G", computeCapability: "8.6", driver: "550.127.05", memoryMiB: 23028 };
const gpuHost = (over: Partial<HostGpuFacts> = {}): HostGpuFacts => ({ gpu: T4, tensorrt: "10.8.0", providerLibs: { cuda: true, tensorrt: true }, ...over });
const noGpu: HostGpuFacts = { gpu: null, gpuError: "nvidia-smi not found", tensorrt: null, providerLibs: { cuda: false, tensorrt: false } };

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
    expect(c.passedOver).toEqual([{ provider: "tensorrt", reason: "the engine was built with TensorRT 10.7.0, the runtime has 10.8.0" }]);
  });

  test("the build number does not matter, the release does (10.8.0.43 engine on a 10.8.0 library)", () => {
    expect(providers(chooseProviders([...ALL], model(record({ tensorrtVersion: "10.8.0.43" })), gpuHost()))[0]).toBe("tensorrt:model_ctx.onnx");
  });

  test("engine built for another GPU architecture: CUDA", () => {
    const c = chooseProviders([...ALL], model(record()), gpuHost({ gpu: A10G }));
    expect(providers(c)).toEqual(["cuda:model.onnx", "cpu:model.onnx"]);
    expect(c.passedOver[0].reason).toBe("the engine was built for compute capability 7.5 (Tesla T4), this GPU is 8.6 (NVIDIA A10G)");
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
    expect(c.passedOver.map((p) => p.reason)).toEqual([expect.stringMatching(/TensorRT provider library/), expect.stringMatching(/CUDA provider library/)]);
    expect(chooseProviders(["tensorrt"], model(record()), gpuHost({ tensorrt: null })).passedOver[0].reason).toMatch(/libnvinfer/);
  });

  test("the configured order and subset are respected: cuda before tensorrt, or cpu only", () => {
    expect(providers(chooseProviders(["cuda", "tensorrt"], model(record()), gpuHost()))).toEqual(["cuda:model.onnx", "tensorrt:model_ctx.onnx", "cpu:model.onnx"]);
    expect(providers(chooseProviders(["cpu"], model(record()), gpuHost()))).toEqual(["cpu:model.onnx"]);
  });
});

describe("host probe", () => {
  test("nvidia-smi's CSV: the first GPU; nothing usable → null", () => {
    expect(parseNvidiaSmi("Tesla T4, 7.5, 550.127.05, 15360\nTesla T4, 7.5, 550.127.05, 15360\n")).toEqual(T4);
    expect(parseNvidiaSmi("")).toBeNull();
    expect(parseNvidiaSmi("No devices were found")).toBeNull();
    expect(parseNvidiaSmi("Tesla K80, [N/A], 470, 11441")).toBeNull();
  });

  test("a missing or failing nvidia-smi is 'no GPU' with the reason, not a crash", () => {
    expect(probeGpu("/nonexistent/nvidia-smi")).toEqual({ gpu: null, error: "/nonexistent/nvidia-smi not found" });
    expect(probeGpu("false").error).toMatch(/exited 1/);
    expect(probeGpu(join(import.meta.dir, "../../test/helpers/fake-gpu/nvidia-smi")).gpu).toEqual(T4);
  });

  test("TensorRT's runtime version is read off the real library file behind libnvinfer.so.10", () => {
    const a = tempDir("libs-a");
    const b = tempDir("libs-b");
    writeFileSync(join(b, "libnvinfer.so.10.8.0"), "");
    symlinkSync("libnvinfer.so.10.8.0", join(b, "libnvinfer.so.10"));
    writeFileSync(join(b, "libnvinfer_plugin.so.10.8.0"), "");
    mkdirSync(join(a, "sub"));
    expect(tensorrtRuntimeVersion([join(a, "missing"), a, b])).toBe("10.8.0");
    expect(tensorrtRuntimeVersion([a])).toBeNull();
    // The first folder on the path wins, as for the loader; within it the newest.
    writeFileSync(join(a, "libnvinfer.so.10.13.0"), "");
    writeFileSync(join(a, "libnvinfer.so.10.9.1"), "");
    expect(tensorrtRuntimeVersion([a, b])).toBe("10.13.0");
  });
});
