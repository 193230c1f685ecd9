/**
 * The port the batcher owns: what it needs of whatever runs its batches (an inference worker, or a
 * benchmark's wrapper around one). The worker side implements it; the batcher imports nothing of it.
 */
import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";

/** A runner's state: batches go to runners that are up. */
export type RunnerState = "starting" | "up" | "down" | "stopped";

/** A batch's answer. */
export interface BatchResult {
  /** Row-major [rows, numLabels]. */
  logits: Float32Array;
  numLabels: number;
  runMs: number;
}

/** Runs batches for one model. */
export interface BatchRunner {
  run(rows: RowRef[]): Promise<BatchResult>;
  /** False while the runner starts, restarts or is stopped: the batcher prefers runners that are up. */
  readonly up: boolean;
  /**
   * The execution provider it runs on now (before its first start, the first it will try): a restart
   * may fall back to another (a GPU worker back on the CPU), and a batch is sized for it.
   */
  readonly provider: ExecutionProvider;
  /** Calls fn on each change of state, so the rows that waited leave when a runner comes back up. */
  onState(fn: (state: RunnerState) => void): void;
}
