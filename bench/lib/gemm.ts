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

/** One product [tokens, k] × [k, n], timed back to back. */
export interface GemmShape {
  tokens: number;
  k: number;
  n: number;
  runs: number;
  seconds: number;
  gflops: number;
}

export interface GemmMeasurement {
  /** The best sustained rate over the shapes, GFLOP/s: the roofline's limit. */
  gflops: number;
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
  /** onnxruntime's intra-op threads; all cores by default. */
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
async function timeShape(session: ort.InferenceSession, tokens: number, k: number, n: number, seconds: number) {
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
  return { tokens, k, n, runs, seconds: elapsed, gflops: (2 * tokens * k * n * runs) / elapsed / 1e9 };
}

/**
 * The encoder's three products at each token count, each for `secondsPerShape` (defaults: 128, 512
 * and 2048 tokens, hidden 768, intermediate 3072, 0.4 s: about 4 s in all), on all cores.
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
        for (const t of tokens) shapes.push(await timeShape(session, t, k, n, seconds));
      } finally {
        await session.release();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { gflops: Math.max(...shapes.map((s) => s.gflops)), threads, shapes };
}
