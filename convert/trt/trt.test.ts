import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { onnx } from "onnx-proto";
import { tempDir } from "../../testkit/fixtures.ts";
import { ElemType } from "../onnx/graph.ts";
import { epContextModel, smArchitecture, writeEpContextModel } from "./epcontext.ts";
import {
  decodeTrtVersion,
  defaultProfile,
  dockerTrtexec,
  parseTrtexecLog,
  trtexecArgs,
  validateProfile,
} from "./trtexec.ts";

const INPUTS = ["input_ids", "attention_mask"];

describe("trtexec command lines", () => {
  test("the default profile covers batch 1..B and sequence 1..max length, tuned at 16x64", () => {
    expect(defaultProfile(512, 32)).toEqual({
      minBatch: 1,
      optBatch: 16,
      maxBatch: 32,
      minSequence: 1,
      optSequence: 64,
      maxSequence: 512,
    });
    // A smaller cap pulls the opt shape in with it.
    expect(defaultProfile(40, 8)).toEqual({
      minBatch: 1,
      optBatch: 8,
      maxBatch: 8,
      minSequence: 1,
      optSequence: 40,
      maxSequence: 40,
    });
  });

  for (const [name, maxLength, maxBatch] of [
    ["XLM-R models", 512, 32],
    ["the RoBERTa model", 512, 64],
    ["a short model", 128, 4],
  ] as const) {
    test(`FP32 only, shapes for both inputs, for ${name} (max ${maxBatch}x${maxLength})`, () => {
      const profile = defaultProfile(maxLength, maxBatch);
      const args = trtexecArgs({
        onnx: "/engines/m/model.onnx",
        engine: "/engines/m/model.engine",
        inputs: INPUTS,
        profile,
        workspaceMiB: 4096,
        timingCache: "/engines/.trt-timing.cache",
      });
      expect(args).toEqual([
        "trtexec",
        "--onnx=/engines/m/model.onnx",
        "--saveEngine=/engines/m/model.engine",
        "--minShapes=input_ids:1x1,attention_mask:1x1",
        `--optShapes=input_ids:${profile.optBatch}x${profile.optSequence},attention_mask:${profile.optBatch}x${profile.optSequence}`,
        `--maxShapes=input_ids:${maxBatch}x${maxLength},attention_mask:${maxBatch}x${maxLength}`,
        "--noTF32",
        "--memPoolSize=workspace:4096M",
        "--timingCacheFile=/engines/.trt-timing.cache",
        "--skipInference",
      ]);
      for (const reduced of ["--fp16", "--int8", "--best", "--bf16", "--fp8", "--stronglyTyped"])
        expect(args.some((a) => a.startsWith(reduced))).toBe(false);
    });
  }

  test("docker run: pinned image, all GPUs, the engines folder at /engines, the caller's uid", () => {
    const cmd = dockerTrtexec(
      { image: "nvcr.io/nvidia/tensorrt:25.01-py3", hostDir: "/srv/engines", user: "1000:1000" },
      ["trtexec", "--onnx=/engines/a/model.onnx"],
    );
    expect(cmd).toEqual([
      "docker",
      "run",
      "--rm",
      "--gpus=all",
      "--user=1000:1000",
      "--volume=/srv/engines:/engines",
      "--workdir=/engines",
      "nvcr.io/nvidia/tensorrt:25.01-py3",
      "trtexec",
      "--onnx=/engines/a/model.onnx",
    ]);
  });

  test("profiles that TensorRT would reject, or that exceed the model, are refused before the build", () => {
    const ok = defaultProfile(512, 32);
    expect(() => validateProfile(ok, 512)).not.toThrow();
    expect(() => validateProfile({ ...ok, optBatch: 64 }, 512)).toThrow(/min ≤ opt ≤ max/);
    expect(() => validateProfile({ ...ok, minSequence: 0 }, 512)).toThrow(/positive integer/);
    expect(() => validateProfile({ ...ok, maxSequence: 514 }, 512)).toThrow(/longer than the model's 512/);
  });
});

describe("trtexec log", () => {
  const log = (version: string, tail = "&&&& PASSED TensorRT.trtexec [TensorRT v100800] [b43] # trtexec") =>
    `&&&& RUNNING TensorRT.trtexec [TensorRT v${version}] [b43] # trtexec --onnx=x\n[I] === Device Information ===\n[I] Selected Device: Tesla T4\n[I] Selected Device ID: 0\n[I] Compute Capability: 7.5\n${tail}\n`;

  test("version, GPU and compute capability come from trtexec's own banner and device section", () => {
    expect(parseTrtexecLog(log("100800"))).toEqual({
      tensorrtVersion: "10.8.0",
      gpu: "Tesla T4",
      computeCapability: "7.5",
    });
  });

  test("TensorRT version integers of both numbering schemes decode", () => {
    expect(decodeTrtVersion(100800)).toBe("10.8.0");
    expect(decodeTrtVersion(101300)).toBe("10.13.0");
    expect(decodeTrtVersion(8601)).toBe("8.6.1");
  });

  test("a log without PASSED or without the device section is an error, not a half-recorded engine", () => {
    expect(() => parseTrtexecLog(log("100800", "&&&& FAILED TensorRT.trtexec"))).toThrow(/PASSED/);
    expect(() => parseTrtexecLog("&&&& PASSED TensorRT.trtexec [TensorRT v100800]")).toThrow(/selected device/);
  });
});

describe("EPContext wrapper", () => {
  const spec = {
    engineFile: "model.engine",
    inputs: INPUTS.map((name) => ({ name, elemType: ElemType.INT64, dims: ["batch", "sequence"] })),
    outputs: [{ name: "logits", elemType: ElemType.FLOAT, dims: ["batch", 3] }],
    hardwareArchitecture: smArchitecture("7.5"),
    onnxModelFilename: "model.onnx",
  };

  test("parsed back: one com.microsoft EPContext node, embed_mode 0, relative engine path, sm 75, typed I/O", () => {
    const file = join(tempDir("epctx"), "model_ctx.onnx");
    writeEpContextModel(file, spec);
    const m = onnx.ModelProto.decode(readFileSync(file));
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toContainEqual(["com.microsoft", 1]);
    const g = m.graph!;
    expect(g.node).toHaveLength(1);
    const node = g.node![0];
    expect([node.opType, node.domain]).toEqual(["EPContext", "com.microsoft"]);
    const attrs = Object.fromEntries(
      node.attribute!.map((a) => [
        a.name,
        a.type === onnx.AttributeProto.AttributeType.INT ? Number(a.i) : new TextDecoder().decode(a.s!),
      ]),
    );
    expect(attrs).toEqual({
      embed_mode: 0,
      ep_cache_context: "model.engine",
      hardware_architecture: "75",
      onnx_model_filename: "model.onnx",
    });
    expect(node.input).toEqual(INPUTS);
    expect(node.output).toEqual(["logits"]);
    const io = (v: onnx.IValueInfoProto) => [
      v.name,
      v.type!.tensorType!.elemType,
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
    ];
    expect(g.input!.map(io)).toEqual([
      ["input_ids", ElemType.INT64, ["batch", "sequence"]],
      ["attention_mask", ElemType.INT64, ["batch", "sequence"]],
    ]);
    expect(g.output!.map(io)).toEqual([["logits", ElemType.FLOAT, ["batch", 3]]]);
    expect(g.initializer).toHaveLength(0);
  });

  test("onnxruntime loads the wrapper and looks for an EP to claim its EPContext node: the step where TensorRT is needed", async () => {
    const dir = tempDir("epctx-ort");
    writeEpContextModel(join(dir, "model_ctx.onnx"), spec);
    const err = await ort.InferenceSession.create(join(dir, "model_ctx.onnx"), { executionProviders: ["cpu"] }).then(
      () => null,
      (e: Error) => e.message,
    );
    // A malformed wrapper fails earlier (protobuf, graph resolution, type or attribute checks); this
    // one gets as far as asking the session's providers to claim the node. No "source" attribute:
    // onnxruntime's TensorRT EP claims such legacy nodes (its backward-compatibility tests).
    expect(err).toMatch(/EPContext node generated by '\(unknown\)' is not compatible with any execution provider/);
    expect(err).toMatch(/node name: 'tensorrt_engine'/);
    expect(err).toMatch(/\[CPUExecutionProvider\]/);
  });

  test("absolute engine paths and paths with .. are refused, as onnxruntime would at load", () => {
    expect(() => epContextModel({ ...spec, engineFile: "/engines/m/model.engine" })).toThrow(/relative/);
    expect(() => epContextModel({ ...spec, engineFile: "../other/model.engine" })).toThrow(/relative/);
  });
});
