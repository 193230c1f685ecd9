import type { InputSpec } from "../../lib/onnx/feeds.ts";
import type { ExecutionProvider } from "../config.ts";

/** What the HTTP thread and an inference worker exchange (over the supervised-worker protocol). */

/** A row of token ids living in a SharedArrayBuffer: every model of a family reads the same memory. */
export interface RowRef {
  buffer: SharedArrayBuffer;
  /** Offset in Int32 elements. */
  offset: number;
  /** Ids this model uses (already truncated to its max length). */
  length: number;
}

/** One way to run the model, in the order to try them (see app/inference/provider-choice.ts). */
export interface LoadCandidate {
  provider: ExecutionProvider;
  modelPath: string;
}

export interface LoadOptions {
  candidates: LoadCandidate[];
  intraOpThreads: number;
  /** The graph's inputs as engine.json records them, and the pad id. */
  input: InputSpec;
  /** The graph's logits output. */
  output: string;
  /** Rows run once before the worker reports ready (the template's real special ids around ordinary ones). */
  warmup: number[][];
  /**
   * Tests only (no GPU here): GPU candidates load on the CPU provider while this counter (Int32,
   * shared across restarts) is above zero, one per load, and fail once it is used up, as a GPU that
   * works at the first start and is gone at a restart. Honoured only with fault hooks on, which the
   * production entry never turns on.
   */
  gpuStandIn?: SharedArrayBuffer;
}

export interface ModelReady {
  loadMs: number;
  provider: ExecutionProvider;
  /** Candidates tried before the one loaded, and the error each gave. */
  failed: { provider: ExecutionProvider; error: string }[];
  numLabels: number;
}

export interface BatchResult {
  /** Row-major [rows, numLabels]. */
  logits: Float32Array;
  numLabels: number;
  runMs: number;
}
