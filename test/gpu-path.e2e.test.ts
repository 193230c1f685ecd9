/**
 * The GPU path, up to the GPU call, on a machine without one: the real `bun run convert --trt` with
 * stand-ins for docker/trtexec and nvidia-smi (testkit/fake-gpu), then the real service told
 * it runs on a T4 with matching TensorRT: it tries TensorRT, then CUDA, falls back to CPU when their
 * libraries are absent, says why in readiness, and keeps to the engine's shape profile.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { onnx } from "onnx-proto";
import type { HostGpuFacts } from "../lib/gpu/probe.ts";
import { convertModels } from "../convert/pipeline.ts";
import { readModelRecord, type ModelRecord } from "../lib/store/index.ts";
import { trtexecArgs } from "../convert/trt/trtexec.ts";
import { GPU_STACK } from "../lib/gpu/stack.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { gpuStandIn } from "../testkit/gpu-stand-in.ts";
import { postProcess, startTestServer } from "../testkit/server.ts";

setDefaultTimeout(120_000);

const FAKE = join(import.meta.dir, "..", "testkit", "fake-gpu");
const ROOT = join(import.meta.dir, "..");
const T4_HOST: HostGpuFacts = {
  gpu: { name: "Tesla T4", computeCapability: "7.5", driver: "550.127.05", memoryMiB: 15360 },
  tensorrt: "10.8.0",
  providerLibs: { cuda: true, tensorrt: true },
};

let sources: { key: string; dir: string }[];
let engines: string;

async function convertCli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(
    ["bun", "convert/index.ts", ...sources.flatMap((s) => ["--model", `${s.key}=${s.dir}`]), "--out", engines, ...args],
    {
      cwd: ROOT,
      env: { ...process.env, PATH: `${FAKE}:${process.env.PATH}`, ...env },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: out + err };
}

const dockerCalls = (log: string) =>
  existsSync(log)
    ? readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[])
    : [];
const infos = () => sources.map((s) => readModelRecord(join(engines, s.key)) as ModelRecord);

beforeAll(async () => {
  const tiny = tinyManifestSources();
  sources = tiny.map((s) => ({ key: s.key, dir: s.dir }));
  engines = tempDir("gpu-engines");
  await convertModels(tiny, { outDir: engines });
});

describe("convert --trt", () => {
  test("without a GPU: ONNX models as usual, engines skipped with a message, exit 0", async () => {
    const log = join(tempDir("docker-log"), "calls");
    const r = await convertCli(["--trt"], { NVIDIA_SMI: "/nonexistent/nvidia-smi", FAKE_DOCKER_LOG: log });
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/TensorRT engines not built: \/nonexistent\/nvidia-smi not found/);
    expect(dockerCalls(log)).toEqual([]);
    expect(infos().every((i) => i.trt === undefined)).toBe(true);
  });

  test("trtexec failing: exit 1 with its output, no engine, no record, no leftovers", async () => {
    const r = await convertCli(["--trt"], { FAKE_TRTEXEC_FAIL: "1" });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/cardiffnlp: trtexec: failed \(exit 1\)/);
    expect(r.output).toMatch(/FAILED TensorRT\.trtexec/);
    for (const s of sources)
      expect(readdirSync(join(engines, s.key)).filter((f) => f.includes("engine") && f !== "engine.json")).toEqual([]);
    expect(infos().every((i) => i.trt === undefined)).toBe(true);
  });

  test("on a T4: one docker run of the pinned TensorRT image per model, FP32, the profile recorded with the TensorRT version and GPU from trtexec's log", async () => {
    const log = join(tempDir("docker-log"), "calls");
    const r = await convertCli(["--trt", "--trt-max-batch", "4", "--trt-opt", "2x16"], { FAKE_DOCKER_LOG: log });
    expect(r.output).toMatch(/TensorRT: 5 built, 0 unchanged on Tesla T4/);
    expect(r.code).toBe(0);
    const calls = dockerCalls(log);
    expect(calls[0]).toEqual(["info", "--format", "{{.ServerVersion}}"]);
    const runs = calls.slice(1);
    expect(runs).toHaveLength(5);
    for (const [i, info] of infos().entries()) {
      const t = info.trt!;
      const profile = {
        minBatch: 1,
        optBatch: 2,
        maxBatch: 4,
        minSequence: 1,
        optSequence: 16,
        maxSequence: info.maxLength,
      };
      expect(t).toMatchObject({
        tensorrtVersion: "10.8.0",
        gpu: "Tesla T4",
        computeCapability: "7.5",
        precision: "fp32",
        image: GPU_STACK.tensorrtImage,
        profile,
        engine: "model.engine",
        contextModel: "model_ctx.onnx",
        onnxSha256: info.onnx.modelSha256,
      });
      const run = runs[i];
      expect(run.slice(0, 4)).toEqual([
        "run",
        "--rm",
        "--gpus=all",
        `--user=${process.getuid!()}:${process.getgid!()}`,
      ]);
      expect(run).toContain(`--volume=${engines}:/engines`);
      expect(run[run.indexOf(GPU_STACK.tensorrtImage) + 1]).toBe("trtexec");
      const args = run.slice(run.indexOf("trtexec"));
      const tmp = args
        .find((a) => a.startsWith("--saveEngine="))!
        .split("/")
        .pop()!;
      expect(args).toEqual(
        trtexecArgs({
          onnx: `/engines/${info.key}/model.onnx`,
          engine: `/engines/${info.key}/${tmp}`,
          inputs: ["input_ids", "attention_mask"],
          profile,
          workspaceMiB: 4096,
          timingCache: "/engines/.trt-timing.cache",
        }),
      );
      expect(t.command).toEqual(["docker", ...run]);
      // The engine trtexec wrote, renamed into place; the wrapper points at it and declares the model's I/O.
      const dir = join(engines, info.key);
      expect(readFileSync(join(dir, "model.engine"), "utf8")).toBe(
        `fake plan for --onnx=/engines/${info.key}/model.onnx`,
      );
      const ctx = onnx.ModelProto.decode(readFileSync(join(dir, "model_ctx.onnx")));
      const node = ctx.graph!.node![0];
      expect(node.opType).toBe("EPContext");
      expect(node.attribute!.find((a) => a.name === "ep_cache_context")!.s).toEqual(
        new TextEncoder().encode("model.engine"),
      );
      expect(ctx.graph!.input!.map((v) => v.name)).toEqual(["input_ids", "attention_mask"]);
      expect(ctx.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual([
        "batch",
        info.labels.length,
      ]);
    }
  });

  test("run again with the same inputs: nothing rebuilt", async () => {
    const log = join(tempDir("docker-log"), "calls");
    const r = await convertCli(["--trt", "--trt-max-batch", "4", "--trt-opt", "2x16"], { FAKE_DOCKER_LOG: log });
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/TensorRT: 0 built, 5 unchanged/);
    expect(dockerCalls(log).filter((c) => c[0] === "run")).toEqual([]);
  });

  test("bad --trt flags are refused before anything runs", async () => {
    for (const [args, msg] of [
      [["--trt", "--trt-runner", "podman"], /--trt-runner expects docker or local/],
      [["--trt", "--trt-opt", "16"], /--trt-opt expects BATCHxSEQUENCE/],
      [["--trt-max-batch", "8"], /--trt-\* options need --trt/],
    ] as const) {
      const r = await convertCli([...args]);
      expect(r.code).toBe(1);
      expect(r.output).toMatch(msg);
    }
  });
});

describe("the service on the engines convert --trt wrote", () => {
  let cpuAnswer: unknown;
  const TEXTS = Array.from({ length: 10 }, (_, i) => `text number ${i} with a few words`);

  beforeAll(async () => {
    const cpu = await startTestServer(engines, { EXECUTION_PROVIDERS: "cpu" });
    cpuAnswer = await (await postProcess(cpu.url, JSON.stringify(TEXTS))).json();
    await cpu.stop();
  });

  test("told it runs on a matching T4: tries TensorRT, then CUDA, answers from CPU, says why; batches keep to the profile's 4 rows", async () => {
    const s = await startTestServer(
      engines,
      { EXECUTION_PROVIDERS: "tensorrt,cuda,cpu", MAX_BATCH_SIZE: "32" },
      { hostFacts: T4_HOST },
    );
    try {
      const ready = await (await fetch(`${s.url}/health/ready`)).json();
      expect(ready.status).toBe("ready");
      for (const m of ready.models) {
        expect(m.provider).toBe("cpu");
        // Each provider tried in its own right and failing for the reason this machine has: onnxruntime-node
        // installed without its GPU provider libraries (ONNXRUNTIME_NODE_INSTALL=skip, as the tests are).
        expect(m.providerNotes).toEqual([
          "tensorrt failed to load: OrtSessionOptionsAppendExecutionProvider_TensorRT: Failed to load shared library",
          "cuda failed to load: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library",
        ]);
      }
      for (const m of s.service.models) expect(m.limits).toEqual({ maxBatch: 4, maxSequence: m.record.maxLength });
      const res = await postProcess(s.url, JSON.stringify(TEXTS));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(cpuAnswer);
      for (const { batches: st } of s.service.observe().models) {
        expect(st.answeredRows).toBe(10);
        expect(st.answeredBatches).toBeGreaterThanOrEqual(3);
      }
    } finally {
      await s.stop();
    }
  });

  test("on CPU a batch is capped by CPU_MAX_BATCH_TOKENS padded tokens: ten short texts share batches within it", async () => {
    // Defaults (the test server raises the CPU's row cap; "" restores the defaults): 32 rows, 256 tokens.
    const defaults = { EXECUTION_PROVIDERS: "cpu", CPU_MAX_BATCH_SIZE: "", CPU_MAX_BATCH_TOKENS: "" };
    const s = await startTestServer(engines, defaults);
    try {
      expect(await (await postProcess(s.url, JSON.stringify(TEXTS))).json()).toEqual(cpuAnswer);
      for (const { batches: st } of s.service.observe().models)
        expect([st.answeredRows, st.answeredBatches]).toEqual([10, 1]);
    } finally {
      await s.stop();
    }
    // A budget of about two rows' padded tokens: the ten rows leave in several batches, each within it.
    const longest = Math.max(...s.service.observe().models.map(({ batches: st }) => st.paddedTokens / st.answeredRows));
    const tight = await startTestServer(engines, { ...defaults, CPU_MAX_BATCH_TOKENS: String(2 * longest) });
    try {
      const padded: number[] = [];
      for (const m of tight.service.models) m.batcher.onAnswered((b) => padded.push(b.paddedTokens));
      expect(await (await postProcess(tight.url, JSON.stringify(TEXTS))).json()).toEqual(cpuAnswer);
      expect(padded.length).toBeGreaterThan(tight.service.models.length); // more than one batch per model
      for (const tokens of padded) expect(tokens).toBeLessThanOrEqual(2 * longest); // every batch within the budget
      for (const { batches: st } of tight.service.observe().models) expect(st.answeredRows).toBe(10);
    } finally {
      await tight.stop();
    }
  });

  test("on a host whose TensorRT differs from the engines': TensorRT passed over with both versions named, no load attempted", async () => {
    const s = await startTestServer(
      engines,
      { EXECUTION_PROVIDERS: "tensorrt,cpu" },
      { hostFacts: { ...T4_HOST, tensorrt: "10.7.0" } },
    );
    try {
      const ready = await (await fetch(`${s.url}/health/ready`)).json();
      for (const m of ready.models)
        expect(m.providerNotes).toEqual([
          "tensorrt: the engine was built with TensorRT 10.8.0, the runtime has 10.7.0",
        ]);
      // No TensorRT engine in use: the configured batch size holds.
      for (const m of s.service.models) expect(m.limits).toBeUndefined();
      expect(await (await postProcess(s.url, JSON.stringify(TEXTS))).json()).toEqual(cpuAnswer);
    } finally {
      await s.stop();
    }
  });
});

describe("a worker restart that falls back to another execution provider (the GPU simulated by a CPU stand-in)", () => {
  const TEXTS = Array.from({ length: 10 }, (_, i) => `text number ${i} with a few words`);
  test("readiness and /models report what each worker really runs on, and the batch cap follows the provider", async () => {
    // CUDA candidates load on the CPU once per model (the stand-in), then fail: a GPU gone at the restart.
    const env = {
      EXECUTION_PROVIDERS: "cuda,cpu",
      MAX_BATCH_SIZE: "32",
      CPU_MAX_BATCH_SIZE: "1",
      CPU_MAX_BATCH_TOKENS: "",
    };
    const s = await startTestServer(engines, env, { hostFacts: T4_HOST, faultHooks: true, workerEntry: gpuStandIn(1) });
    try {
      const cardiff = s.service.models.find((m) => m.key === "cardiffnlp")!;
      const readiness = async () =>
        (await (await fetch(`${s.url}/health/ready`)).json()).models.find(
          (m: { key: string }) => m.key === "cardiffnlp",
        );
      const described = async () =>
        (await (await fetch(`${s.url}/models`)).json()).find((m: { key: string }) => m.key === "cardiffnlp");
      expect((await readiness()).provider).toBe("cuda");
      expect((await readiness()).workers[0].provider).toBe("cuda");
      expect((await described()).provider).toBe("cuda");
      const batchesFor = async () => {
        const before = cardiff.batcher.stats.answeredBatches;
        expect((await postProcess(s.url, JSON.stringify(TEXTS))).status).toBe(200);
        return cardiff.batcher.stats.answeredBatches - before;
      };
      expect(await batchesFor()).toBe(1); // the GPU cap: ten texts in one batch
      const modelInfo = async () =>
        (await (await fetch(`${s.url}/metrics`)).text())
          .split("\n")
          .filter((l) => l.startsWith('classifier_model_info{model="cardiffnlp"'));
      expect((await modelInfo()).map((l) => l.includes('provider="cuda"'))).toEqual([true]);

      const worker = cardiff.workers[0];
      const backUp = new Promise<void>((resolve) =>
        worker.on((e) => e.type === "state" && e.state === "up" && resolve()),
      );
      worker.injectFault("exit");
      expect((await postProcess(s.url, JSON.stringify("the worker exits on this one"))).status).toBe(503);
      await backUp;

      const ready = await readiness();
      expect([ready.provider, ready.workers[0].provider, ready.workers[0].restarts]).toEqual(["cpu", "cpu", 1]);
      expect(ready.providerNotes).toEqual([
        expect.stringMatching(/^cuda failed to load: stand-in: the cuda device is gone/),
      ]);
      expect((await described()).provider).toBe("cpu");
      expect((await described()).workers[0].provider).toBe("cpu");
      // One model_info series per model, with the provider it runs on now (not the old one as well).
      expect((await modelInfo()).map((l) => l.includes('provider="cpu"'))).toEqual([true]);
      expect(await batchesFor()).toBe(TEXTS.length); // re-decided: CPU_MAX_BATCH_SIZE=1 on the CPU
    } finally {
      await s.stop();
    }
  });
});

afterAll(() => rmSync(engines, { recursive: true, force: true }));
