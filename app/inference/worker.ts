/// <reference lib="webworker" />
/**
 * An inference worker: one onnxruntime session, off the HTTP thread (session.run blocks the thread
 * that calls it for the whole run). It pads the rows it is sent into one [batch, sequence] tensor,
 * runs it, and returns the logits as a transferred buffer.
 */
import * as ort from "onnxruntime-node";
import type { FromWorker, RowRef, ToWorker } from "./protocol.ts";

declare const self: Worker;

let session: ort.InferenceSession | null = null;
let padId = 1;
let numLabels = 0;

const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

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

async function run(rows: RowRef[]): Promise<Float32Array> {
  const out = await session!.run(toTensors(rows));
  const logits = out.logits;
  numLabels = logits.dims[1];
  return new Float32Array(logits.data as Float32Array);
}

function providerOptions(providers: string[]): ort.InferenceSession.ExecutionProviderConfig[] {
  // CPU is always last: onnxruntime falls back to it for anything the others do not take.
  const list = providers.filter((p) => p !== "cpu").map((p) => (p === "tensorrt" ? { name: "tensorrt", deviceId: 0 } : { name: "cuda", deviceId: 0 }));
  return [...list, "cpu"];
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === "load") {
    const started = performance.now();
    try {
      padId = msg.padId;
      session = await ort.InferenceSession.create(msg.modelPath, {
        executionProviders: providerOptions(msg.providers),
        intraOpNumThreads: msg.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
      // Warm up: the first runs allocate and pick kernels; readiness waits for them.
      for (const len of msg.warmupLengths) {
        const buf = new SharedArrayBuffer(len * 4);
        const ids = new Int32Array(buf).fill(5);
        ids[0] = 0;
        ids[len - 1] = 2;
        await run([{ buffer: buf, offset: 0, length: len }]);
      }
      post({ type: "ready", loadMs: performance.now() - started, provider: msg.providers[0] ?? "cpu", numLabels });
    } catch (e) {
      post({ type: "load-failed", message: e instanceof Error ? e.message : String(e) });
    }
    return;
  }
  if (msg.type === "run") {
    const started = performance.now();
    try {
      const logits = await run(msg.rows);
      post({ type: "result", id: msg.id, logits, numLabels, runMs: performance.now() - started }, [logits.buffer]);
    } catch (e) {
      post({ type: "run-failed", id: msg.id, message: e instanceof Error ? e.message : String(e) });
    }
  }
};
