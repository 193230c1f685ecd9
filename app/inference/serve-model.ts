/**
 * An inference worker: one onnxruntime session, off the HTTP thread (session.run blocks the thread
 * that calls it for the whole run). It pads the rows it is sent into one [batch, sequence] tensor, or
 * concatenates them (the packed graph: usesPacked), runs it, and returns the logits as a
 * transferred buffer. Before it loads, it checks the model's
 * files against engine.json (model-files.ts); a batch whose logits are not all finite fails.
 */
import * as ort from "onnxruntime-node";
import { modelFeeds, packedFeeds, type InputSpec } from "../../lib/onnx/feeds.ts";
import { serveWorker } from "../workers/serve.ts";
import { verifyModelFiles } from "./model-files.ts";
import type { BatchResult, LoadCandidate, LoadOptions, ModelReady, RowRef, WarmupBatch } from "./protocol.ts";

/** A model's session with how its graph is fed and read: what a batch runs on. */
interface LoadedModel {
  session: ort.InferenceSession;
  feeds: (rows: RowRef[]) => Record<string, ort.Tensor>;
  output: string;
}

/** The rows as the candidate's graph takes them: concatenated for the packed graph, else padded. */
function feedsFor(input: InputSpec, packedInputs: string[] | undefined): LoadedModel["feeds"] {
  if (packedInputs) return (rows) => packedFeeds(rows.map(idsOf), packedInputs, rows.map(typesOf));
  return (rows) => modelFeeds(rows.map(idsOf), input, rows.map(typesOf));
}

/** Set once a candidate has loaded and warmed up. */
let model: LoadedModel | null = null;

const idsOf = (r: RowRef) => new Int32Array(r.buffer, r.offset * 4, r.length);
const typesOf = (r: RowRef) => (r.types === undefined ? undefined : new Int32Array(r.buffer, r.types * 4, r.length));

async function run({ session, feeds, output }: LoadedModel, rows: RowRef[]): Promise<BatchResult> {
  const started = performance.now();
  const out = await session.run(feeds(rows));
  const logits = out[output];
  const values = logits.data as Float32Array;
  const numLabels = logits.dims[1];
  // NaN or ±Inf would be answered as a null score with 200: broken weights fail the batch instead.
  const broken = rowsWithNonFinite(values, numLabels);
  if (broken > 0)
    throw new Error(
      `the model answered non-finite logits (NaN or ±Inf) for ${broken} of ${rows.length} rows: its weights are ` +
        "broken; check them (VERIFY_WEIGHTS=sha256) or convert it again",
    );
  return { logits: new Float32Array(values), numLabels, runMs: performance.now() - started };
}

function rowsWithNonFinite(values: Float32Array, numLabels: number): number {
  let rows = 0;
  for (let at = 0; at < values.length; at += numLabels)
    if (!values.subarray(at, at + numLabels).every(Number.isFinite)) rows++;
  return rows;
}

/** Runs one warm-up batch; a failure names its shape (the longest is where a wrong maxLength shows). */
async function warmUp(candidate: LoadedModel, batch: WarmupBatch): Promise<number> {
  const buffer = new SharedArrayBuffer(batch.row.length * 4);
  new Int32Array(buffer).set(batch.row);
  const rows = Array.from({ length: batch.rows }, () => ({ buffer, offset: 0, length: batch.row.length }));
  try {
    return (await run(candidate, rows)).numLabels;
  } catch (e) {
    const shape = `${batch.rows} × ${batch.row.length} tokens`;
    throw new Error(`warm-up at ${shape} failed${batch.ifFails ? ` (${batch.ifFails})` : ""}: ${(e as Error).message}`);
  }
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

/**
 * How a candidate is given to onnxruntime: as it is, in production. A harness's worker entry may
 * change it (testkit/gpu-stand-in-worker.ts loads GPU candidates on the CPU: there is no GPU here).
 */
export type SessionCandidate = (c: LoadCandidate) => LoadCandidate;

/** The first candidate that loads and runs its warm-up, as the worker's model; the others' errors are reported, not thrown. */
async function firstThatLoads(load: LoadOptions, sessionCandidate: SessionCandidate) {
  const failed: ModelReady["failed"] = [];
  for (const c of load.candidates) {
    let session: ort.InferenceSession | null = null;
    try {
      session = await ort.InferenceSession.create(
        c.modelPath,
        sessionOptions(sessionCandidate(c), load.intraOpThreads),
      );
      const candidate = { session, feeds: feedsFor(load.input, c.packedInputs), output: load.output };
      // Warm up: the first runs allocate and pick kernels; readiness waits for them.
      let numLabels = 0;
      for (const batch of load.warmup[c.provider] ?? []) numLabels = await warmUp(candidate, batch);
      model = candidate;
      return { provider: c.provider, failed, numLabels };
    } catch (e) {
      await session?.release().catch(() => {});
      failed.push({ provider: c.provider, error: String((e as Error)?.message ?? e).slice(0, 500) });
    }
  }
  throw new Error(
    `no execution provider could load the model: ${failed.map((f) => `${f.provider}: ${f.error}`).join("; ")}`,
  );
}

/** Serves the model protocol from a worker entry file (app/inference/worker.ts; a harness's own entry may pass `sessionCandidate`). */
export function serveModelWorker(sessionCandidate: SessionCandidate = (c) => c) {
  serveWorker<LoadOptions, RowRef[], ModelReady, BatchResult>({
    async init(load) {
      const started = performance.now();
      // Before any session exists: a file that is not what engine.json says is never loaded.
      const verified = load.files ? verifyModelFiles(load.files) : null;
      const loaded = await firstThatLoads(load, sessionCandidate);
      return { loadMs: performance.now() - started, verified, ...loaded };
    },
    async handle(rows) {
      if (!model) throw new Error("a batch reached the worker before its model loaded");
      const result = await run(model, rows);
      return { value: result, transfer: [result.logits.buffer] };
    },
  });
}
