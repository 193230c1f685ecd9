import type { ShapeProfile } from "../../lib/store/index.ts";
import { ConvertError } from "../errors.ts";

export interface TrtexecPlan {
  /** Paths as trtexec sees them (inside the container when run through docker). */
  onnx: string;
  engine: string;
  inputs: string[];
  profile: ShapeProfile;
  /** Builder workspace, MiB. */
  workspaceMiB: number;
  /** Shared across models: the four XLM-R models have the same layers, so tactics timed once are reused. */
  timingCache?: string;
}

export function validateProfile(p: ShapeProfile, maxLength: number): void {
  const bad = (why: string) => {
    throw new ConvertError("trt profile", why);
  };
  for (const [k, v] of Object.entries(p))
    if (!Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${v}`);
  if (!(p.minBatch <= p.optBatch && p.optBatch <= p.maxBatch))
    bad(`batch must satisfy min ≤ opt ≤ max, got ${p.minBatch}/${p.optBatch}/${p.maxBatch}`);
  if (!(p.minSequence <= p.optSequence && p.optSequence <= p.maxSequence))
    bad(`sequence must satisfy min ≤ opt ≤ max, got ${p.minSequence}/${p.optSequence}/${p.maxSequence}`);
  if (p.maxSequence > maxLength) bad(`max sequence ${p.maxSequence} is longer than the model's ${maxLength} positions`);
}

/** The profile the service needs: any batch up to maxBatch, any length up to the model's maximum. */
export function defaultProfile(maxLength: number, maxBatch: number, opt = { batch: 16, sequence: 64 }): ShapeProfile {
  return {
    minBatch: 1,
    optBatch: Math.min(opt.batch, maxBatch),
    maxBatch,
    minSequence: 1,
    optSequence: Math.min(opt.sequence, maxLength),
    maxSequence: maxLength,
  };
}

const shapes = (inputs: string[], batch: number, sequence: number) =>
  inputs.map((i) => `${i}:${batch}x${sequence}`).join(",");

/**
 * trtexec's arguments for an FP32 engine. FP32 only: no --fp16/--int8/--best, and --noTF32 so that
 * even GPUs with TF32 (Ampere+) keep full FP32 matmuls; the weights are used as published.
 */
export function trtexecArgs(plan: TrtexecPlan): string[] {
  const p = plan.profile;
  return [
    "trtexec",
    `--onnx=${plan.onnx}`,
    `--saveEngine=${plan.engine}`,
    `--minShapes=${shapes(plan.inputs, p.minBatch, p.minSequence)}`,
    `--optShapes=${shapes(plan.inputs, p.optBatch, p.optSequence)}`,
    `--maxShapes=${shapes(plan.inputs, p.maxBatch, p.maxSequence)}`,
    "--noTF32",
    `--memPoolSize=workspace:${plan.workspaceMiB}M`,
    ...(plan.timingCache ? [`--timingCacheFile=${plan.timingCache}`] : []),
    "--skipInference",
  ];
}

export interface DockerRun {
  image: string;
  /** Host folder mounted at /engines: the model's ONNX files, the engine written there. */
  hostDir: string;
  user?: string;
  gpus?: string;
}

/** `docker run` around trtexec: the TensorRT of the pinned image builds the engine, on the host's GPU. */
export function dockerTrtexec(run: DockerRun, args: string[]): string[] {
  return [
    "docker",
    "run",
    "--rm",
    `--gpus=${run.gpus ?? "all"}`,
    ...(run.user ? [`--user=${run.user}`] : []),
    `--volume=${run.hostDir}:/engines`,
    "--workdir=/engines",
    run.image,
    ...args,
  ];
}

export interface TrtexecReport {
  /** "10.8.0", from the banner's v100800. */
  tensorrtVersion: string;
  gpu: string;
  /** "7.5". */
  computeCapability: string;
}

/**
 * Reads what built the engine from trtexec's own log: the banner ("[TensorRT v100800]") and the
 * device section ("Selected Device: Tesla T4", "Compute Capability: 7.5").
 */
export function parseTrtexecLog(log: string): TrtexecReport {
  const banner = /\[TensorRT v(\d+)\]/.exec(log);
  const device = /Selected Device:\s*(.+?)\s*$/m.exec(log);
  const cc = /Compute Capability:\s*(\d+\.\d+)/.exec(log);
  if (!banner || !device || !cc)
    throw new ConvertError(
      "trtexec",
      `log lacks ${!banner ? "the TensorRT version banner" : !device ? "the selected device" : "the compute capability"}`,
    );
  if (!/PASSED TensorRT\.trtexec/.test(log)) throw new ConvertError("trtexec", "did not report PASSED");
  return { tensorrtVersion: decodeTrtVersion(Number(banner[1])), gpu: device[1], computeCapability: cc[1] };
}

/** NV_TENSORRT_VERSION as an integer: 10.x is major·10000 + minor·100 + patch, 8.x major·1000 + minor·100 + patch. */
export function decodeTrtVersion(n: number): string {
  if (n >= 10_000) return `${Math.floor(n / 10_000)}.${Math.floor((n % 10_000) / 100)}.${n % 100}`;
  return `${Math.floor(n / 1000)}.${Math.floor((n % 1000) / 100)}.${n % 100}`;
}
