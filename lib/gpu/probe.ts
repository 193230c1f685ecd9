/**
 * What the machine offers for GPU inference, read from the machine itself: the GPU (nvidia-smi),
 * the TensorRT runtime library (libnvinfer.so.<version> on the library path) and onnxruntime-node's
 * GPU provider libraries (installed with ONNXRUNTIME_NODE_INSTALL=cuda12). The parsing is pure and
 * tested; the calls are thin.
 */
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface GpuInfo {
  name: string;
  /** "7.5" */
  computeCapability: string;
  driver: string;
  memoryMiB: number;
}

export interface HostGpuFacts {
  gpu: GpuInfo | null;
  /** Why there is no GPU, when there is none. */
  gpuError?: string;
  /** "10.8.0" from libnvinfer.so.10.8.0, or null. */
  tensorrt: string | null;
  providerLibs: { cuda: boolean; tensorrt: boolean };
}

const NVIDIA_SMI_QUERY = ["--query-gpu=name,compute_cap,driver_version,memory.total", "--format=csv,noheader,nounits"];

/** The first GPU of `nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): GpuInfo | null {
  const line = output
    .split("\n")
    .map((l) => l.trim())
    .find(Boolean);
  if (!line) return null;
  const [name, cc, driver, mem] = line.split(",").map((s) => s.trim());
  if (!name || !/^\d+\.\d+$/.test(cc ?? "")) return null;
  return { name, computeCapability: cc, driver: driver ?? "", memoryMiB: Number(mem) || 0 };
}

export function probeGpu(nvidiaSmi = process.env.NVIDIA_SMI || "nvidia-smi"): { gpu: GpuInfo | null; error?: string } {
  try {
    const r = Bun.spawnSync([nvidiaSmi, ...NVIDIA_SMI_QUERY], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0)
      return { gpu: null, error: `${nvidiaSmi} exited ${r.exitCode}: ${r.stderr.toString().trim().slice(0, 200)}` };
    const gpu = parseNvidiaSmi(r.stdout.toString());
    return gpu ? { gpu } : { gpu: null, error: `${nvidiaSmi} listed no GPU` };
  } catch {
    return { gpu: null, error: `${nvidiaSmi} not found` };
  }
}

/** Where the dynamic loader looks for libnvinfer: LD_LIBRARY_PATH first, then the usual system folders. */
function libraryDirs(env: Record<string, string | undefined> = process.env): string[] {
  return [
    ...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/cuda/lib64",
    "/usr/local/lib",
    "/usr/lib",
  ];
}

/** The TensorRT runtime version from the real file name the loader would open (libnvinfer.so.10 → libnvinfer.so.10.8.0). */
export function tensorrtRuntimeVersion(dirs: string[]): string | null {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const versions = names.map((n) => /^libnvinfer\.so\.(\d+\.\d+\.\d+)$/.exec(n)?.[1]).filter((v): v is string => !!v);
    const latest = versions.sort(compareVersions).at(-1);
    if (latest) return latest;
  }
  return null;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++)
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** onnxruntime-node's native folder (bin/napi-v6/<platform>/<arch>): the GPU provider libraries land there. */
export function onnxruntimeNativeDir(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
}

function providerLibs(dir = onnxruntimeNativeDir()): HostGpuFacts["providerLibs"] {
  return {
    cuda: existsSync(join(dir, "libonnxruntime_providers_cuda.so")),
    tensorrt: existsSync(join(dir, "libonnxruntime_providers_tensorrt.so")),
  };
}

export function probeHost(env: Record<string, string | undefined> = process.env): HostGpuFacts {
  const { gpu, error } = probeGpu(env.NVIDIA_SMI || "nvidia-smi");
  return { gpu, gpuError: error, tensorrt: tensorrtRuntimeVersion(libraryDirs(env)), providerLibs: providerLibs() };
}
