/**
 * What the HTTP layer may ask of the classification service, and the shapes it answers with, each
 * declared once here: routes depend on this interface (so they are tested against a fake in
 * milliseconds), app/http/model.ts writes the matching t.* schemas for /openapi and a compile-time
 * check holds them equal. ClassifierService implements it over real workers.
 */
import type { Activation, ModelOrigin, ModelRecord } from "../../lib/store/index.ts";
import type { ExecutionProvider } from "../config.ts";
import type { ModelAnswer, TopK } from "../scoring.ts";
import type { TextInput } from "../tokenize/tokenizer-protocol.ts";
import type { Truncation } from "../tokenize/truncation.ts";
import type { WorkerState } from "../workers/supervised-worker.ts";

export type { TopK } from "../scoring.ts";
export type { TextInput } from "../tokenize/tokenizer-protocol.ts";

/** Every model's answer for one text, keyed by model, in index order: its top label, or its ranked labels (top_k). */
export type Answer = Record<string, ModelAnswer | ModelAnswer[]>;

/** POST /process: one answer for a text, an array of answers (in order) for an array of texts. */
export type ProcessAnswer = Answer | Answer[];

/**
 * Where a request's time went (ms), recorded by the service and read once by the request context for
 * the timing headers, the phase metrics and the log line. Queue and inference are the longest over the models.
 */
export interface RequestTimings {
  tokenizationMs: number;
  queueMs: number;
  inferenceMs: number;
}

/**
 * What a request through the models answers, where its time went, and the rows it ran (inputs ×
 * models: what the request context counts per route, in the metrics and the log line).
 */
export interface Ran<T> {
  answers: T;
  timings: RequestTimings;
  rows: number;
}

/** What classify answers: one answer per text, in order. */
export type Classified = Ran<Answer[]>;

/** POST /zero-shot: as transformers' ZeroShotClassificationPipeline takes its arguments. */
export interface ZeroShotRequest {
  sequences: string | string[];
  /** A list, or one string of comma-separated labels (as the pipeline splits it). */
  candidate_labels: string | string[];
  hypothesis_template?: string;
  multi_label?: boolean;
  /** The NLI model's key; optional when exactly one served model has an entailment label. */
  model?: string;
}

/** /zero-shot's limits: labels per request (MAX_CANDIDATE_LABELS), rows = sequences × labels (MAX_QUEUED_TEXTS). */
export interface ZeroShotLimits {
  maxLabels: number;
  maxRows: number;
}

/** One sequence's answer, labels ranked by score (the pipeline's). */
export interface ZeroShotAnswer {
  sequence: string;
  labels: string[];
  scores: number[];
}

/** POST /rerank: TEI's request (a pair too long is cut longest_first, or refused with `truncate: false`). */
export interface RerankRequest {
  query: string;
  texts: string[];
  raw_scores?: boolean;
  return_text?: boolean;
  /** Accepted for TEI compatibility; pairs are always cut to the model's length. */
  truncate?: boolean;
  /** TEI's enum is "Left" | "Right"; its docs also show lower case: both are taken. */
  truncation_direction?: "left" | "right" | "Left" | "Right";
  /** The cross-encoder's key; optional when exactly one served model has a single-logit head. */
  model?: string;
  /** Only the N best. */
  top_n?: number;
}

/** One text's rank: its index in the request, its score, and itself when asked (TEI's answer). */
export interface RerankAnswer {
  index: number;
  score: number;
  text?: string;
}

/** What a run of inputs through some models takes (ClassifierService.run): /process's and /zero-shot's common part. */
export interface RunOptions {
  /** Aborts when the client goes away: its queued rows are dropped unrun. */
  signal?: AbortSignal;
  /** Rows not yet running after this long are dropped and the request fails with deadline_exceeded. */
  timeoutMs: number;
  /**
   * How rows too long for a model are cut: longest_first on the right by default (the
   * text-classification pipeline's truncation=True), only_first for zero-shot, or from the left.
   */
  truncation?: Truncation;
  /** Refuse (413 text_too_long) an input longer than a model takes instead of cutting it (TEI's `truncate: false`). */
  refuseTooLong?: boolean;
}

export interface ClassifyOptions extends RunOptions {
  /** The top label per model (default), or the k best labels ranked (the pipeline's top_k). */
  topK?: TopK;
  /** Only these models answer (`?models=`), in the service's order; absent, every model. Keys are known. */
  models?: string[];
  /** Each label's logit as its score, no sigmoid or softmax (`?raw_scores=true`, as TEI names it). */
  rawScores?: boolean;
}

/** One supervised worker as it stands. */
export interface WorkerHealth {
  name: string;
  state: WorkerState;
  restarts: number;
  /** What it runs on since its latest start; before its first, the provider it tries first. */
  provider: ExecutionProvider;
}

export interface ModelHealth {
  key: string;
  /** What the model's first worker runs on now (after any fallback). */
  provider: ExecutionProvider;
  providerNotes: string[];
  family: string;
  queued: number;
  running: number;
  workers: WorkerHealth[];
}

export interface ServiceHealth {
  pendingTexts: number;
  models: ModelHealth[];
}

export type ReadinessStatus = "ready" | "loading" | "degraded" | "draining";

/** GET /health/ready: 200 when ready, 503 otherwise; while loading there are no models yet. */
export interface Readiness extends ServiceHealth {
  status: ReadinessStatus;
}

/** GET /health/live. */
export interface Liveness {
  status: "live";
}

/** What one tokenizer family makes of a text or a pair (POST /tokenize). */
export interface FamilyTokens {
  family: string;
  models: string[];
  maxLength: number;
  length: number;
  ids: number[];
  /** The model's token_type_ids: 0 for one text; for a pair, as the family's template assigns them. */
  tokenTypeIds: number[];
  tokens: string[];
}

/** POST /tokenize: per family for a text, an array of those for an array of texts. */
export type TokenizeAnswer = FamilyTokens[] | FamilyTokens[][];

/** How a model's weights were proven: every tensor hashed in the checkpoint and in the ONNX file, or nothing to compare. */
export type WeightProofSummary =
  | { kind: "byte-identical"; tensors: number; identical: number; allIdentical: boolean; dtype: string[] }
  | { kind: "not applicable: served as given" };

/** GET /models, one entry: what is served, where it came from, and the figures deployments are compared by. */
export interface ModelDescription {
  key: string;
  source: ModelOrigin;
  architecture: string;
  activation: Activation;
  inputs: string[];
  labels: string[];
  publishedLabels: string[];
  family: string;
  maxLength: number;
  /** Answers a /process that names no models; false: only when `?models=` names it, and /zero-shot, /rerank. */
  defaultFanOut: boolean;
  provider: ExecutionProvider;
  workers: WorkerHealth[];
  loadMs: number;
  engine: {
    converterVersion: string;
    convertedAt: string;
    /** As engine.json records it. */
    onnx: ModelRecord["onnx"];
  };
  weightProof: WeightProofSummary;
  parameters: { total: number; nonZero: number; sparsity: number };
  bytes: { weightsInMemory: number; onDisk: number };
  inference: {
    batches: number;
    rows: number;
    lastBatch: { rows: number; ms: number; msPerText: number } | null;
    meanMsPerBatch: number | null;
    meanMsPerText: number | null;
  };
}

/** Counts the service keeps as it runs (they only grow). */
export interface ServiceCounters {
  /** Requests refused because the queue was full. */
  shed: number;
  deadlineExceeded: number;
  clientClosed: number;
}

/** A model's batches so far. */
export interface BatchStats {
  /** Dispatched to a worker: real and padded tokens (longest row × rows; packed batches pad none). */
  realTokens: number;
  paddedTokens: number;
  /** Answered: batches, rows, and time inside the worker summed, and the last batch's. */
  answeredBatches: number;
  answeredRows: number;
  runMs: number;
  last: { rows: number; runMs: number } | null;
  /** Rows removed from the queue unrun (deadline, client gone, another model failed). */
  cancelled: number;
}

/** One model as it stands: its record, what runs it now, its queue and its batches. */
export interface ModelObservation {
  key: string;
  record: ModelRecord;
  family: string;
  maxLength: number;
  provider: ExecutionProvider;
  providerNotes: string[];
  /** Time to load and warm up (the slowest of its workers). */
  loadMs: number;
  /** model.onnx + its external weights file. */
  bytesOnDisk: number;
  /** Answers a /process that names no models. */
  defaultFanOut: boolean;
  queued: number;
  running: number;
  batches: BatchStats;
  workers: WorkerHealth[];
}

/**
 * The one read model of the service: /health/ready, /models and the metrics collectors read this,
 * never the batchers and workers behind it. A snapshot: reading it changes nothing.
 */
/** The tokenizer processes (app/tokenize/tokenizer-pool.ts) as they stand. */
export interface TokenizerObservation {
  processes: number;
  queuedJobs: number;
  runningJobs: number;
  /** Requests whose tokenization was dropped unstarted: their client left, or their deadline passed. */
  droppedBeforeStart: number;
  /** Tokenizer processes that died (a panicking tokenizer aborts its process) and were started again. */
  crashes: number;
  /** Tokenizer processes replaced because their memory had grown. */
  recycled: number;
  rssBytes: number;
}

export interface ServiceObservation {
  /** drain() was called: new requests are refused with shutting_down. */
  draining: boolean;
  pendingTexts: number;
  counters: ServiceCounters;
  models: ModelObservation[];
  tokenizers: TokenizerObservation;
}

export interface ClassifierApi {
  /** The service as it stands: readiness and /models are read from it. */
  observe(): ServiceObservation;
  /** One answer per text, in order. Throws ApiError (overloaded, shutting_down, deadline_exceeded, …). */
  classify(texts: TextInput[], opts: ClassifyOptions): Promise<Classified>;
  /** TEI's /rerank (app/service/rerank.ts). */
  rerank(req: RerankRequest, opts: RunOptions): Promise<Ran<RerankAnswer[]>>;
  /** Zero-shot classification (app/service/zero-shot.ts); throws ApiError invalid_input for what it cannot do. */
  zeroShot(req: ZeroShotRequest, opts: RunOptions & ZeroShotLimits): Promise<Ran<ZeroShotAnswer | ZeroShotAnswer[]>>;
  /** `signal` aborts when the client goes away: answered client_closed without waiting for the native call. */
  tokenization(text: TextInput, signal?: AbortSignal): Promise<FamilyTokens[]>;
}
