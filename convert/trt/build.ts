/**
 * `bun run convert --trt`: FP32 TensorRT engines for the models convert wrote, built by trtexec in
 * NVIDIA's TensorRT container (or by a trtexec on PATH, inside that container), each wrapped in an
 * EPContext model the service loads through onnxruntime's TensorRT EP. Needs a GPU host; without
 * one it says so and does nothing.
 */
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { probeGpu, type GpuInfo } from "../../lib/gpu/probe.ts";
import { GPU_STACK } from "../../lib/gpu/stack.ts";
import { readStore, writeModelRecord, type ShapeProfile, type TrtEngineRecord } from "../../lib/store/index.ts";
import { ConvertError } from "../errors.ts";
import { sha256File } from "../hash.ts";
import { graphIo, smArchitecture, writeEpContextModel } from "./epcontext.ts";
import { defaultProfile, dockerTrtexec, parseTrtexecLog, trtexecArgs, validateProfile } from "./trtexec.ts";

const ENGINE_FILE = "model.engine";
const CONTEXT_MODEL = "model_ctx.onnx";
const TIMING_CACHE = ".trt-timing.cache";

export interface TrtOptions {
  enginesDir: string;
  /** docker: trtexec in GPU_STACK.tensorrtImage through `docker run --gpus`; local: a trtexec on PATH. */
  runner: "docker" | "local";
  maxBatch: number;
  opt: { batch: number; sequence: number };
  workspaceMiB: number;
  image?: string;
  /** Commands, overridable so tests can stand in for docker, trtexec and nvidia-smi. */
  commands?: { docker?: string; trtexec?: string; nvidiaSmi?: string };
  keys?: string[];
  log?: (message: string) => void;
  /** Runs a command, returns its exit code and combined output. */
  exec?: (cmd: string[]) => Promise<{ code: number; output: string }>;
}

export type TrtResult = { skipped: string } | { built: string[]; unchanged: string[]; gpu: GpuInfo };

export async function defaultExec(cmd: string[]): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: out + err };
}

export async function buildTrtEngines(opts: TrtOptions): Promise<TrtResult> {
  const log = opts.log ?? (() => {});
  const exec = opts.exec ?? defaultExec;
  const dir = resolve(opts.enginesDir);
  const { gpu, error } = probeGpu(opts.commands?.nvidiaSmi);
  if (!gpu)
    return {
      skipped: `TensorRT engines not built: ${error}. Run \`bun run convert --trt\` on a GPU host (see README, Deploy on a g4dn.2xlarge).`,
    };
  if (opts.runner === "docker") {
    const docker = opts.commands?.docker ?? "docker";
    const info = await exec([docker, "info", "--format", "{{.ServerVersion}}"]).catch((e: Error) => ({
      code: -1,
      output: e.message,
    }));
    if (info.code !== 0)
      return {
        skipped: `TensorRT engines not built: docker is not usable (${info.output.trim().slice(0, 200)}). Install Docker and the NVIDIA Container Toolkit, or run inside ${GPU_STACK.tensorrtImage} with --trt-runner local.`,
      };
  }
  const store = readStore(dir);
  const image = opts.runner === "docker" ? (opts.image ?? GPU_STACK.tensorrtImage) : null;
  const result = { built: [] as string[], unchanged: [] as string[], gpu };
  // Paths as trtexec sees them: the engines folder is mounted at /engines in the container.
  const root = opts.runner === "docker" ? "/engines" : dir;
  for (const { key, dir: modelDir, record: info } of store.models) {
    if (opts.keys && !opts.keys.includes(key)) continue;
    const modelRoot = join(root, relative(dir, modelDir));
    const profile = defaultProfile(info.maxLength, opts.maxBatch, opts.opt);
    validateProfile(profile, info.maxLength);
    const onnxSha256 = sha256File(join(modelDir, info.onnx.model));
    if (isCurrent(modelDir, info.trt, { onnxSha256, profile, image, gpu })) {
      log(`${key}: TensorRT engine unchanged, kept`);
      result.unchanged.push(key);
      continue;
    }
    const tmpEngine = `${ENGINE_FILE}.tmp-${process.pid}`;
    const args = trtexecArgs({
      onnx: join(modelRoot, info.onnx.model),
      engine: join(modelRoot, tmpEngine),
      inputs: info.onnx.inputs,
      profile,
      workspaceMiB: opts.workspaceMiB,
      timingCache: join(root, TIMING_CACHE),
    });
    if (opts.runner === "local" && opts.commands?.trtexec) args[0] = opts.commands.trtexec;
    const uid = process.getuid?.();
    // image is set exactly when the runner is docker.
    const cmd =
      image !== null
        ? dockerTrtexec(
            { image, hostDir: dir, user: uid !== undefined ? `${uid}:${process.getgid?.()}` : undefined },
            args,
          )
        : args;
    if (opts.runner === "docker" && opts.commands?.docker) cmd[0] = opts.commands.docker;
    log(
      `${key}: building an FP32 TensorRT engine (batch ${profile.minBatch}..${profile.maxBatch}, sequence ${profile.minSequence}..${profile.maxSequence}, opt ${profile.optBatch}x${profile.optSequence}); this takes minutes`,
    );
    const started = performance.now();
    const run = await exec(cmd);
    const tmpPath = join(modelDir, tmpEngine);
    if (run.code !== 0 || !existsSync(tmpPath)) {
      rmSync(tmpPath, { force: true });
      throw new ConvertError(
        `${key}: trtexec`,
        `failed (exit ${run.code}); last output:\n${run.output.split("\n").slice(-20).join("\n")}`,
      );
    }
    const report = parseTrtexecLog(run.output);
    if (report.computeCapability !== gpu.computeCapability)
      throw new ConvertError(
        `${key}: trtexec`,
        `built on compute capability ${report.computeCapability}, nvidia-smi says ${gpu.computeCapability}`,
      );
    renameSync(tmpPath, join(modelDir, ENGINE_FILE));
    const io = graphIo(join(modelDir, info.onnx.model));
    writeEpContextModel(join(modelDir, CONTEXT_MODEL), {
      engineFile: ENGINE_FILE,
      inputs: io.inputs,
      outputs: io.outputs,
      hardwareArchitecture: smArchitecture(report.computeCapability),
      onnxModelFilename: info.onnx.model,
    });
    const record: TrtEngineRecord = {
      engine: ENGINE_FILE,
      contextModel: CONTEXT_MODEL,
      onnxSha256,
      tensorrtVersion: report.tensorrtVersion,
      gpu: report.gpu,
      computeCapability: report.computeCapability,
      profile,
      precision: "fp32",
      image,
      command: cmd,
      engineSha256: sha256File(join(modelDir, ENGINE_FILE)),
      engineBytes: statSync(join(modelDir, ENGINE_FILE)).size,
      buildSeconds: Math.round((performance.now() - started) / 100) / 10,
      builtAt: new Date().toISOString(),
    };
    writeModelRecord(modelDir, { ...info, trt: record });
    log(
      `${key}: TensorRT ${report.tensorrtVersion} engine for ${report.gpu} (sm_${smArchitecture(report.computeCapability)}), ${(record.engineBytes / 2 ** 20).toFixed(0)} MiB, ${record.buildSeconds} s`,
    );
    result.built.push(key);
  }
  return result;
}

function isCurrent(
  modelDir: string,
  t: TrtEngineRecord | undefined,
  want: { onnxSha256: string; profile: ShapeProfile; image: string | null; gpu: GpuInfo },
): boolean {
  if (!t) return false;
  const same =
    t.onnxSha256 === want.onnxSha256 &&
    JSON.stringify(t.profile) === JSON.stringify(want.profile) &&
    (want.image === null || t.image === want.image) &&
    t.computeCapability === want.gpu.computeCapability;
  const engine = join(modelDir, t.engine);
  return (
    same && existsSync(engine) && existsSync(join(modelDir, t.contextModel)) && statSync(engine).size === t.engineBytes
  );
}
