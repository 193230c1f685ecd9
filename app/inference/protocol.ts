import type { InputSpec } from "../../lib/onnx/feeds.ts";
import type { BatchResult } from "../batching/runner.ts";
import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";
import type { FilesVerified, ModelFilesCheck } from "./model-files.ts";

/**
 * What the HTTP thread and an inference worker exchange (over the supervised-worker protocol): a
 * call carries rows the tokenizer packed (RowRef) and is answered with the batcher's BatchResult.
 */
export type { BatchResult, RowRef };

/** One way to run the model, in the order to try them (see app/inference/provider-choice.ts). */
export interface LoadCandidate {
  provider: ExecutionProvider;
  modelPath: string;
  /** The packed graph's inputs when `modelPath` is the packed graph: the batch's rows are concatenated, not padded. */
  packedInputs?: string[];
}

export interface LoadOptions {
  candidates: LoadCandidate[];
  intraOpThreads: number;
  /** The graph's inputs as engine.json records them, and the pad id. */
  input: InputSpec;
  /** The graph's logits output. */
  output: string;
  /**
   * Batches each provider runs once before the worker reports ready: short rows, and the longest
   * shape it will be sent, so a maximum length the graph cannot take fails the start.
   */
  warmup: Partial<Record<ExecutionProvider, WarmupBatch[]>>;
  /** The files checked against engine.json before every load; absent only in the raw-engine benchmark. */
  files?: ModelFilesCheck;
}

/** `rows` copies of one row (the template's real special ids around ordinary ones). */
export interface WarmupBatch {
  row: number[];
  rows: number;
  /** What its failure most likely means, and what to do: said with the error. */
  ifFails?: string;
}

export interface ModelReady {
  /** From the worker's start to ready: the files' check, the session's creation and the warm-up. */
  loadMs: number;
  /** The files' check, when there was one. */
  verified: FilesVerified | null;
  provider: ExecutionProvider;
  /** Candidates tried before the one loaded, and the error each gave. */
  failed: { provider: ExecutionProvider; error: string }[];
  numLabels: number;
}
