/**
 * An inference worker: one onnxruntime session, off the HTTP thread (session.run blocks the thread
 * that calls it for the whole run). It pads the rows it is sent into one [batch, sequence] tensor,
 * runs it, and returns the logits as a transferred buffer.
 */
import * as ort from "onnxruntime-node";
import { serveWorker } from "../workers/serve.ts";
import type { BatchResult, LoadOptions, ModelReady, RowRef } from "./protocol.ts";

let session: ort.InferenceSession | null = null;
let padId = 1;

function toTensors(rows: RowRef[]) {
  const seq = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * seq).fill(BigInt(padId));
  const mask = new BigInt64Array(rows.length * seq);
  rows.forEach((r, b) => {
    const src = new Int32Array(r.buffer, r.offset * 4, r.length);
    for (let i = 0; i < r.length; i++) {
      ids[b * seq + i] = BigInt(src[i]);
      mask[b * seq + i] = 1n;
    }
  });
  return {
    input_ids: new ort.Tensor("int64", ids, [rows.length, seq]),
    attention_mask: new ort.Tensor("int64", mask, [rows.length, seq]),
  };
}

async function run(rows: RowRef[]): Promise<BatchResult> {
  const started = performance.now();
  const out = await session!.run(toTensors(rows));
  const logits = out.logits;
  return { logits: new Float32Array(logits.data as Float32Array), numLabels: logits.dims[1], runMs: performance.now() - started };
}

function providerOptions(providers: string[]): ort.InferenceSession.ExecutionProviderConfig[] {
  // CPU is always last: onnxruntime falls back to it for anything the others do not take.
  const list = providers.filter((p) => p !== "cpu").map((p) => (p === "tensorrt" ? { name: "tensorrt", deviceId: 0 } : { name: "cuda", deviceId: 0 }));
  return [...list, "cpu"];
}

serveWorker<LoadOptions, RowRef[], ModelReady, BatchResult>({
  async init(load) {
    const started = performance.now();
    padId = load.padId;
    session = await ort.InferenceSession.create(load.modelPath, {
      executionProviders: providerOptions(load.providers),
      intraOpNumThreads: load.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    // Warm up: the first runs allocate and pick kernels; readiness waits for them.
    let numLabels = 0;
    for (const len of load.warmupLengths) {
      const buffer = new SharedArrayBuffer(len * 4);
      const ids = new Int32Array(buffer).fill(5);
      ids[0] = 0;
      ids[len - 1] = 2;
      numLabels = (await run([{ buffer, offset: 0, length: len }])).numLabels;
    }
    return { loadMs: performance.now() - started, provider: load.providers[0] ?? "cpu", numLabels };
  },
  async handle(rows) {
    const result = await run(rows);
    return { value: result, transfer: [result.logits.buffer] };
  },
});
