/**
 * The box's measured limit for the roofline: FP32 matrix products through onnxruntime-node on all
 * cores, at the shapes an encoder layer multiplies (tokens × hidden by hidden × hidden, hidden ×
 * intermediate, intermediate × hidden). Each product is a one-node ONNX graph, Y = X·W, written with
 * the converter's own ONNX writer: X an input [tokens, k], W an initializer [k, n], as in the models.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { ElemType, GraphBuilder } from "../../convert/onnx/graph.ts";
import { writeModelWithExternalData } from "../../convert/onnx/model-file.ts";

/** One product [tokens, k] × [k, n], timed back to back (in `sessions` sessions side by side). */
export interface GemmShape {
  tokens: number;
  k: number;
  n: number;
  /** Sessions running it at once, each in its own worker (1: one session on this thread). */
  sessions: number;
  /** onnxruntime intra-op threads per session. */
  threads: number;
  runs: number;
  seconds: number;
  gflops: number;
}

export interface GemmMeasurement {
  /** The best sustained rate over the shapes and both layouts, GFLOP/s: the roofline's limit. */
  gflops: number;
  /** The cores used: one session with this many threads, and as many one-thread sessions side by side. */
  threads: number;
  shapes: GemmShape[];
}

export interface GemmOptions {
  /** Rows of the activations: a batch's tokens (rows × length). */
  tokens?: number[];
  hidden?: number;
  intermediate?: number;
  /** How long each shape runs back to back after its warm-up. */
  secondsPerShape?: number;
  /** The cores to use; all by default. Measured both ways: one session with that many intra-op threads,
   * and that many one-thread sessions side by side in workers (as the service's five sessions run). */
  threads?: number;
}

/** Deterministic values in [-0.5, 0.5): a product of zeros could take a path real weights never do. */
export function pseudoRandom(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Writes the one-node model Y = X·W into `dir` as matmul-<k>x<n>.onnx (W [k, n], row-major, an initializer); its path. */
export function writeMatMulModel(dir: string, weight: Float32Array, k: number, n: number): string {
  if (weight.length !== k * n) throw new Error(`a ${k} × ${n} weight has ${k * n} values, got ${weight.length}`);
  const g = new GraphBuilder("matmul");
  const x = g.input("x", ElemType.FLOAT, ["tokens", k]);
  const bytes = new Uint8Array(weight.buffer, weight.byteOffset, weight.byteLength);
  const w = g.weight({
    name: "w",
    dims: [k, n],
    dataType: ElemType.FLOAT,
    byteLength: bytes.byteLength,
    bytes: () => bytes,
  });
  g.output(g.op("MatMul", [x, w], {}, "y"), ElemType.FLOAT, ["tokens", n]);
  return writeModelWithExternalData(dir, g, `matmul-${k}x${n}.onnx`).model;
}

/** A session on the model with the service's CPU options (all graph optimisations, one inter-op thread). */
export function openMatMul(modelPath: string, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelPath, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
}

/** Y = X·W through the session, X [tokens, k] row-major. */
export async function runMatMul(session: ort.InferenceSession, x: Float32Array, tokens: number, k: number) {
  const out = await session.run({ x: new ort.Tensor("float32", x, [tokens, k]) });
  return { data: out.y.data as Float32Array, dims: out.y.dims };
}

/** Runs one shape back to back for `seconds` after one warm-up run; its sustained rate. */
export async function timeShape(session: ort.InferenceSession, tokens: number, k: number, seconds: number) {
  const x = pseudoRandom(tokens * k, tokens + k);
  await runMatMul(session, x, tokens, k);
  const started = performance.now();
  let runs = 0;
  let elapsed = 0;
  do {
    await runMatMul(session, x, tokens, k);
    runs++;
    elapsed = (performance.now() - started) / 1000;
  } while (elapsed < seconds);
  return { runs, seconds: elapsed };
}

/** What a gemm worker is told, and answers (bench/lib/gemm-worker.ts). */
export interface GemmWorkerJob {
  model: string;
  tokens: number;
  k: number;
  n: number;
  seconds: number;
}

/**
 * `sessions` one-thread sessions, each in a worker, run the shape at the same time (all warmed up
 * first, then started together): their summed rate.
 */
async function timeShapeSideBySide(
  model: string,
  tokens: number,
  k: number,
  n: number,
  seconds: number,
  sessions: number,
) {
  const workers = Array.from({ length: sessions }, () => new Worker(new URL("./gemm-worker.ts", import.meta.url)));
  const next = (w: Worker) =>
    new Promise<{ runs: number; seconds: number }>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
    });
  try {
    const ready = workers.map(next);
    for (const w of workers) w.postMessage({ model, tokens, k, n, seconds } satisfies GemmWorkerJob);
    await Promise.all(ready);
    const done = workers.map(next);
    for (const w of workers) w.postMessage("go");
    const results = await Promise.all(done);
    const rate = results.reduce((sum, r) => sum + (2 * tokens * k * n * r.runs) / r.seconds, 0);
    return { runs: results.reduce((a, r) => a + r.runs, 0), seconds: Math.max(...results.map((r) => r.seconds)), rate };
  } finally {
    for (const w of workers) w.terminate();
  }
}

/** A shape's record from its runs. */
const shapeOf = (
  tokens: number,
  k: number,
  n: number,
  sessions: number,
  threads: number,
  runs: number,
  seconds: number,
  flopsPerSecond: number,
): GemmShape => ({
  tokens,
  k,
  n,
  sessions,
  threads,
  runs,
  seconds,
  gflops: flopsPerSecond / 1e9,
});

/**
 * The encoder's three products at each token count, each for `secondsPerShape` (defaults: 128, 512
 * and 2048 tokens, hidden 768, intermediate 3072, 0.4 s: about 8 s in all), on all cores, two ways:
 * one session with a thread per core, and one one-thread session per core side by side (how the
 * service's sessions share the cores; on this 2-core box the second way is faster).
 */
export async function measureGemm(opts: GemmOptions = {}): Promise<GemmMeasurement> {
  const tokens = opts.tokens ?? [128, 512, 2048];
  const hidden = opts.hidden ?? 768;
  const intermediate = opts.intermediate ?? 3072;
  const seconds = opts.secondsPerShape ?? 0.4;
  const threads = opts.threads ?? availableParallelism();
  const matrices: [number, number][] = [
    [hidden, hidden],
    [hidden, intermediate],
    [intermediate, hidden],
  ];
  const dir = mkdtempSync(join(tmpdir(), "gemm-"));
  const shapes: GemmShape[] = [];
  try {
    for (const [i, [k, n]] of matrices.entries()) {
      const model = writeMatMulModel(dir, pseudoRandom(k * n, i + 1), k, n);
      const session = await openMatMul(model, threads);
      try {
        for (const t of tokens) {
          const r = await timeShape(session, t, k, seconds);
          shapes.push(shapeOf(t, k, n, 1, threads, r.runs, r.seconds, (2 * t * k * n * r.runs) / r.seconds));
        }
      } finally {
        await session.release();
      }
      if (threads > 1)
        for (const t of tokens) {
          const r = await timeShapeSideBySide(model, t, k, n, seconds, threads);
          shapes.push(shapeOf(t, k, n, threads, 1, r.runs, r.seconds, r.rate));
        }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { gflops: Math.max(...shapes.map((s) => s.gflops)), threads, shapes };
}
