import { MAX_PACKED_TOKENS } from "../../lib/gpu/packing.ts";
import { describe, expect, test } from "bun:test";
import type { HostGpuFacts } from "../../lib/gpu/probe.ts";
import type { ModelRecord, StoredModel, TrtEngineRecord } from "../../lib/store/index.ts";
import type { WarmupBatch } from "../inference/protocol.ts";
import type { ProviderChoice } from "../inference/provider-choice.ts";
import {
  batchLimits,
  familyLengths,
  intraOpThreads,
  limitsFor,
  planModel,
  planModels,
  type PlanSettings,
  withLargestIdRow,
} from "./model-plan.ts";

const record = (maxLength: number) =>
  ({
    key: "m",
    maxLength,
    specialTokens: { pad: 1, prefix: [0], suffix: [2] },
    onnx: { inputs: ["input_ids", "attention_mask", "token_type_ids"], inputType: "int64", outputs: ["logits"] },
  }) as ModelRecord;
const settings: PlanSettings = {
  batch: { maxBatchSize: 32, maxBatchTokens: 16384, maxQueueDelayMs: 5 },
  cpuBatch: { maxBatchSize: 8, maxBatchTokens: 256 },
};
const cpuOnly: ProviderChoice = {
  candidates: [{ provider: "cpu", model: "model.onnx" }],
  passedOver: [{ provider: "cuda", reason: "no GPU" }],
};
const tensorrt: ProviderChoice = {
  candidates: [
    { provider: "tensorrt", model: "model_ctx.onnx", limits: { maxBatch: 16, maxSequence: 256 } },
    { provider: "cuda", model: "model.onnx" },
    { provider: "cpu", model: "model.onnx" },
  ],
  passedOver: [],
};

/** Warm-up batches as rows × tokens. */
const shapes = (batches: WarmupBatch[] | undefined) => batches?.map((b) => `${b.rows}x${b.row.length}`);

describe("model plan", () => {
  test("CPU: the record's length and inputs, warm-up rows of 2, 32 and 512 tokens from its special ids, the reasons GPU providers were passed over", () => {
    const plan = planModel(record(512), cpuOnly);
    expect(plan).toMatchObject({
      maxLength: 512,
      limits: undefined,
      input: { inputs: ["input_ids", "attention_mask", "token_type_ids"], inputType: "int64", padId: 1 },
      output: "logits",
      providerNotes: ["cuda: no GPU"],
    });
    expect(Object.keys(plan.warmup)).toEqual(["cpu"]);
    expect(shapes(plan.warmup.cpu)).toEqual(["1x2", "1x32", "1x512"]);
    const [two, thirtyTwo, longest] = plan.warmup.cpu!.map((b) => b.row);
    expect(two).toEqual([0, 2]);
    expect([thirtyTwo[0], thirtyTwo[1], thirtyTwo[31]]).toEqual([0, 0, 2]);
    expect([longest[0], longest[1], longest[510], longest[511]]).toEqual([0, 0, 0, 2]);
    // A failure at the longest says what it most likely means.
    expect(plan.warmup.cpu!.map((b) => b.ifFails)).toEqual([
      undefined,
      undefined,
      "engine.json's maxLength is 512: more than the graph takes? convert the model again",
    ]);
  });

  test("the tokenizer's largest id: one more row of 3 tokens after every provider's warm-up, its failure naming the model and the id", () => {
    const { warmup } = planModel(record(512), tensorrt);
    const warm = withLargestIdRow(warmup, record(512), 50264);
    expect([shapes(warm.tensorrt), shapes(warm.cpu)]).toEqual([
      ["1x2", "1x32", "16x256", "1x3"],
      ["1x2", "1x32", "1x256", "1x3"],
    ]);
    const last = warm.cuda!.at(-1)!;
    expect(last.row).toEqual([0, 50264, 2]);
    expect(last.ifFails).toStartWith("model m cannot take its tokenizer's largest id 50264:");
    expect(shapes(warmup.cpu)).toEqual(["1x2", "1x32", "1x256"]); // the plan itself unchanged
  });

  test("TensorRT first: rows truncated to the profile's 256 and batches capped at its 16, whichever candidate loads", () => {
    const plan = planModel(record(512), tensorrt);
    expect([plan.maxLength, plan.limits]).toEqual([256, { maxBatch: 16, maxSequence: 256 }]);
    const rows = (p: "tensorrt" | "cuda") => batchLimits(p, plan.limits, settings).maxBatchSize;
    expect([rows("tensorrt"), rows("cuda")]).toEqual([16, 16]);
  });

  test("warm-up at the longest shape each candidate will be sent: the profile's 16 × 256 on TensorRT and CUDA, 1 × 256 on the CPU", () => {
    const { warmup } = planModel(record(512), tensorrt);
    expect([shapes(warmup.tensorrt), shapes(warmup.cuda), shapes(warmup.cpu)]).toEqual([
      ["1x2", "1x32", "16x256"],
      ["1x2", "1x32", "16x256"],
      ["1x2", "1x32", "1x256"],
    ]);
    expect(warmup.tensorrt![2].ifFails).toMatch(/^the TensorRT profile's maximum, 16 × 256: rebuild the engine/);
  });

  test("a model shorter than 32 tokens warms up at its own length, once", () => {
    expect(shapes(planModel(record(20), cpuOnly).warmup.cpu)).toEqual(["1x2", "1x20"]);
  });

  test("batch limits per provider: MAX_BATCH_SIZE/MAX_BATCH_TOKENS on a GPU, rows within the profile; the CPU's own on the CPU", () => {
    expect(batchLimits("cuda", undefined, settings)).toEqual({ maxBatchSize: 32, maxBatchTokens: 16384 });
    const profile = { maxBatch: 16, maxSequence: 512 };
    expect(batchLimits("tensorrt", profile, settings)).toEqual({ maxBatchSize: 16, maxBatchTokens: 16384 });
    expect(batchLimits("cpu", profile, settings)).toEqual({ maxBatchSize: 8, maxBatchTokens: 256 });
    // A profile's rows hold on the CPU too (the plan's limits hold whichever candidate loads).
    expect(batchLimits("cpu", { maxBatch: 4, maxSequence: 512 }, settings).maxBatchSize).toBe(4);
    // The CPU's limits never pass the global ones.
    const roomy = { ...settings, cpuBatch: { maxBatchSize: 64, maxBatchTokens: 100_000 } };
    expect(batchLimits("cpu", undefined, roomy)).toEqual({ maxBatchSize: 32, maxBatchTokens: 16384 });
  });

  test("a model with a packed graph: the CPU and CUDA workers run it, batches priced packed, CUDA's within the simulated T4's cap", () => {
    const packed = { model: "model.packed.onnx", modelSha256: "p", inputs: ["input_ids", "row_ids", "row_starts"] };
    const base = record(512);
    const stored = { record: { ...base, onnx: { ...base.onnx, model: "model.onnx", modelSha256: "s", packed } } };
    const gpu: HostGpuFacts = {
      gpu: { name: "Tesla T4", computeCapability: "7.5", driver: "550", memoryMiB: 15360 },
      tensorrt: null,
      providerLibs: { cuda: true, tensorrt: false },
    };
    const [{ choice, plan }] = planModels([stored as StoredModel], ["cuda", "cpu"], gpu, 512);
    expect(choice.candidates.map((c) => `${c.provider}:${c.model}`)).toEqual([
      "cuda:model.packed.onnx",
      "cpu:model.packed.onnx",
    ]);
    expect(plan.packedOn).toEqual(["cuda", "cpu"]);
    const limits = limitsFor(plan, settings);
    expect(limits("cpu")).toEqual({ maxBatchSize: 8, maxBatchTokens: 256, packed: true });
    expect(limits("cuda")).toEqual({ maxBatchSize: 32, maxBatchTokens: MAX_PACKED_TOKENS.cuda, packed: true });
    // A model without a packed graph: CUDA's batches stay padded, priced by MAX_BATCH_TOKENS.
    const plain = planModels([{ record: base } as StoredModel], ["cuda"], gpu, 512)[0].plan;
    expect(limitsFor(plain, settings)("cuda")).toEqual({ maxBatchSize: 32, maxBatchTokens: 16384 });
  });

  test("intra-op threads: the configured number, else the cores shared among the sessions really loaded, at least one", () => {
    expect(intraOpThreads(3, 8, 5)).toBe(3);
    expect(intraOpThreads(null, 8, 5)).toBe(1); // the five models, one worker each, on a g4dn's 8 vCPUs
    expect(intraOpThreads(null, 8, 2)).toBe(4); // a manifest of two models gets more threads each
    expect(intraOpThreads(null, 2, 1)).toBe(2);
    expect(intraOpThreads(null, 2, 10)).toBe(1);
  });
});

describe("planning every model before the tokenizers", () => {
  const T4: HostGpuFacts = {
    gpu: { name: "Tesla T4", computeCapability: "7.5", driver: "550", memoryMiB: 15360 },
    tensorrt: "10.8.0",
    providerLibs: { cuda: true, tensorrt: true },
  };
  const stored = (
    key: string,
    family: string,
    maxLength: number,
    profile?: { maxBatch: number; maxSequence: number },
  ) => {
    const trt = profile && {
      contextModel: "model_ctx.onnx",
      onnxSha256: "abc",
      tensorrtVersion: "10.8.0",
      gpu: "Tesla T4",
      computeCapability: "7.5",
      profile,
    };
    const r = record(maxLength);
    const onnx = { ...r.onnx, model: "model.onnx", modelSha256: "abc" };
    return {
      key,
      dir: `/engines/${key}`,
      record: { ...r, key, tokenizer: { family }, onnx, trt: trt as TrtEngineRecord | undefined },
    } as StoredModel;
  };

  test("each model's providers and plan on this host; each family encodes up to the longest its models' plans allow", () => {
    const models = [
      stored("profiled", "roberta", 512, { maxBatch: 4, maxSequence: 128 }),
      stored("plain", "roberta", 256),
      stored("other", "bert", 512),
    ];
    const planned = planModels(models, ["tensorrt", "cuda", "cpu"], T4, 512);
    expect(planned.map((p) => [p.stored.key, p.choice.candidates.map((c) => c.provider), p.plan.maxLength])).toEqual([
      ["profiled", ["tensorrt", "cuda", "cpu"], 128],
      ["plain", ["cuda", "cpu"], 256],
      ["other", ["cuda", "cpu"], 512],
    ]);
    // The profile caps its model at 128, so its family is loaded at the other model's 256, not 512.
    expect(familyLengths(planned)).toEqual(
      new Map([
        ["roberta", 256],
        ["bert", 512],
      ]),
    );
    expect(familyLengths(planModels(models, ["cpu"], T4, 512)).get("roberta")).toBe(512);
  });

  test("MAX_SEQUENCE_LENGTH caps a model whose graph takes longer rows (DeBERTa's 4096, ModernBERT's 8192), never lifts one past its own", () => {
    const models = [
      stored("deberta", "deberta", 4096),
      stored("modernbert", "modernbert", 8192),
      stored("xlmr", "xlmr", 512),
    ];
    const lengths = (max: number) => planModels(models, ["cpu"], T4, max).map((p) => p.plan.maxLength);
    expect(lengths(512)).toEqual([512, 512, 512]);
    expect(lengths(8192)).toEqual([4096, 8192, 512]);
    expect(lengths(100)).toEqual([100, 100, 100]);
    // The warm-up's longest row is the capped length: a DeBERTa model does not warm up at 4096 tokens.
    const [deberta] = planModels(models, ["cpu"], T4, 512);
    expect(shapes(deberta.plan.warmup.cpu)).toEqual(["1x2", "1x32", "1x512"]);
  });
});
