/**
 * What the HTTP layer may ask of the classification service, and nothing more: routes depend on
 * this interface, so they can be tested against a fake in milliseconds. ClassifierService
 * implements it over real workers.
 */
import type { ModelAnswer, TopK } from "../scoring.ts";
import type { WorkerState } from "../workers/supervised-worker.ts";
import type { ModelDescription } from "./describe.ts";

export type { ModelDescription } from "./describe.ts";

export type { TopK } from "../scoring.ts";

/** Every model's answer for one text, keyed by model, in index order: its top label, or its ranked labels (top_k). */
export type Answer = Record<string, ModelAnswer | ModelAnswer[]>;

/**
 * Where a request's time went (ms), recorded by the service and read once by the request context for
 * the timing headers, the phase metrics and the log line. Queue and inference are the longest over the models.
 */
export interface RequestTimings {
  tokenizationMs: number;
  queueMs: number;
  inferenceMs: number;
}

/** What classify answers: one answer per text, in order, and where the time went. */
export interface Classified {
  answers: Answer[];
  timings: RequestTimings;
}

export interface ClassifyOptions {
  /** Aborts when the client goes away: its queued rows are dropped unrun. */
  signal?: AbortSignal;
  /** Rows not yet running after this long are dropped and the request fails with deadline_exceeded. */
  timeoutMs: number;
  /** The top label per model (default), or the k best labels ranked (the pipeline's top_k). */
  topK?: TopK;
}

export interface WorkerHealth {
  name: string;
  state: WorkerState;
  restarts: number;
}

export interface ModelHealth {
  key: string;
  /** What the model's first worker runs on now (after any fallback). */
  provider: string;
  providerNotes: string[];
  family: string;
  queued: number;
  running: number;
  workers: (WorkerHealth & { provider: string | null })[];
}

export interface ServiceHealth {
  pendingTexts: number;
  models: ModelHealth[];
}

/** What one tokenizer family makes of a text (POST /tokenize). */
export interface FamilyTokens {
  family: string;
  models: string[];
  maxLength: number;
  length: number;
  ids: number[];
  tokens: string[];
}

export interface ClassifierApi {
  /** True once drain() was called: new requests are refused with shutting_down. */
  readonly draining: boolean;
  /** Accepting, and every worker up. */
  isReady(): boolean;
  health(): ServiceHealth;
  /** One answer per text, in order. Throws ApiError (overloaded, shutting_down, deadline_exceeded, …). */
  classify(texts: string[], opts: ClassifyOptions): Promise<Classified>;
  tokenization(text: string): Promise<FamilyTokens[]>;
  describeModels(): ModelDescription[];
}
