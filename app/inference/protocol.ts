import type { ExecutionProvider } from "../config.ts";

/** Messages between the HTTP thread and an inference worker. */

/** A row of token ids living in a SharedArrayBuffer: every model of a family reads the same memory. */
export interface RowRef {
  buffer: SharedArrayBuffer;
  /** Offset in Int32 elements. */
  offset: number;
  /** Ids this model uses (already truncated to its max length). */
  length: number;
}

export type ToWorker =
  | { type: "load"; modelPath: string; providers: ExecutionProvider[]; intraOpThreads: number; padId: number; warmupLengths: number[] }
  | { type: "run"; id: number; rows: RowRef[] };

export type FromWorker =
  | { type: "ready"; loadMs: number; provider: string; numLabels: number }
  | { type: "load-failed"; message: string }
  | { type: "result"; id: number; logits: Float32Array; numLabels: number; runMs: number }
  | { type: "run-failed"; id: number; message: string };
