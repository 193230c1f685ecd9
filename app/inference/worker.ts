/**
 * An inference worker: one onnxruntime session, off the HTTP thread (session.run blocks the thread
 * that calls it for the whole run). It pads the rows it is sent into one [batch, sequence] tensor,
 * runs it, and returns the logits as a transferred buffer.
 */
import * as ort from "onnxruntime-node";
import { modelFeeds, type InputSpec } from "../../lib/onnx/feeds.ts";
import { serveWorker } from "../workers/serve.ts";
import type { BatchResult, LoadCandidate, LoadOptions, ModelReady, RowRef } from "./protocol.ts";

let session: ort.InferenceSession | null = null;
let input: InputSpec = { inputs: ["input_ids", "attention_mask"], inputType: "int64", padId: 1 };
let output = "logits";

const idsOf = (r: RowRef) => new Int32Array(r.buffer, r.offset * 4, r.length);

async function run(rows: RowRef[]): Promise<BatchResult> {
  const started = performance.now();
  const out = await session!.run(modelFeeds(rows.map(idsOf), input));
  const logits = out[output];
  return {
    logits: new Float32Array(logits.data as Float32Array),
    numLabels: logits.dims[1],
    runMs: performance.now() - started,
  };
}

/**
 * Session options per provider. onnxruntime-node passes the GPU providers nothing but the device id;
 * TensorRT gets its engine and shape profile from the EPContext model, whose single node must not
 * be rewritten by graph optimisations.
 */
function sessionOptions(c: LoadCandidate, intraOpThreads: number): ort.InferenceSession.SessionOptions {
  const common = { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1 };
  if (c.provider === "tensorrt")
    return { ...common, executionProviders: [{ name: "tensorrt", deviceId: 0 }], graphOptimizationLevel: "disabled" };
  if (c.provider === "cuda")
    return { ...common, executionProviders: [{ name: "cuda", deviceId: 0 }, "cpu"], graphOptimizationLevel: "all" };
  return { ...common, executionProviders: ["cpu"], graphOptimizationLevel: "all" };
}

/** Tests only: a GPU candidate stands in on the CPU while the shared counter lasts (see LoadOptions.gpuStandIn). */
function standIn(c: LoadCandidate, counter: SharedArrayBuffer | undefined): LoadCandidate {
  if (!counter || c.provider === "cpu") return c;
  if (Atomics.sub(new Int32Array(counter), 0, 1) <= 0) throw new Error(`stand-in: the ${c.provider} device is gone`);
  return { ...c, provider: "cpu" };
}

/** The first candidate that loads and runs its warm-up; the others' errors are reported, not thrown. */
async function firstThatLoads(load: LoadOptions, faultHooks: boolean) {
  const failed: ModelReady["failed"] = [];
  const gpuStandIn = faultHooks ? load.gpuStandIn : undefined;
  for (const c of load.candidates) {
    try {
      session = await ort.InferenceSession.create(
        c.modelPath,
        sessionOptions(standIn(c, gpuStandIn), load.intraOpThreads),
      );
      // Warm up: the first runs allocate and pick kernels; readiness waits for them.
      let numLabels = 0;
      for (const row of load.warmup) {
        const buffer = new SharedArrayBuffer(row.length * 4);
        new Int32Array(buffer).set(row);
        numLabels = (await run([{ buffer, offset: 0, length: row.length }])).numLabels;
      }
      return { provider: c.provider, failed, numLabels };
    } catch (e) {
      await session?.release().catch(() => {});
      session = null;
      failed.push({ provider: c.provider, error: String((e as Error)?.message ?? e).slice(0, 500) });
    }
  }
  throw new Error(
    `no execution provider could load the model: ${failed.map((f) => `${f.provider}: ${f.error}`).join("; ")}`,
  );
}

serveWorker<LoadOptions, RowRef[], ModelReady, BatchResult>({
  async init(load, faultHooks) {
    const started = performance.now();
    input = load.input;
    output = load.output;
    const loaded = await firstThatLoads(load, faultHooks);
    return { loadMs: performance.now() - started, ...loaded };
  },
  async handle(rows) {
    const result = await run(rows);
    return { value: result, transfer: [result.logits.buffer] };
  },
});
