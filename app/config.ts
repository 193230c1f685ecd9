/**
 * The service's settings: each environment variable declared once in SETTINGS (variable, what it
 * accepts, default, what it does), and the rules between them in loadConfig. The machinery is
 * lib/settings.ts; README's configuration table is this table (`bun app/config.ts` prints it,
 * app/config.test.ts holds them equal).
 */
import { ENGINES_DIR, MAX_BATCH_SIZE } from "../lib/engine-settings.ts";
import {
  boolean,
  type Env,
  fraction,
  host,
  integer,
  listOf,
  oneOf,
  readSettings,
  type Setting,
  SettingError,
  type SettingsOf,
  settingList,
  settingsMarkdown,
} from "../lib/settings.ts";

export interface Config {
  host: string;
  port: number;
  enginesDir: string;
  autoConvert: boolean;
  verifyWeights: WeightCheck;
  maxBodyBytes: number;
  maxBufferedBodyBytes: number;
  maxTextsPerRequest: number;
  maxTextChars: number;
  maxCandidateLabels: number;
  maxSequenceLength: number;
  tokenizerProcesses: number;
  tokenizerRecycleRssPercent: number;
  batch: { maxBatchSize: number; maxBatchTokens: number; maxQueueDelayMs: number };
  /** The CPU provider's own batch limits, within `batch`. */
  cpuBatch: { maxBatchSize: number; maxBatchTokens: number };
  workersPerModel: number;
  /** null: not set, so the service divides the cores among the sessions it loads. */
  intraOpThreads: number | null;
  executionProviders: ExecutionProvider[];
  maxQueuedTexts: number;
  requestTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutS: number;
  drainTimeoutMs: number;
  logging: { level: string; sample: number; texts: boolean };
}

const EXECUTION_PROVIDERS = ["cpu", "cuda", "tensorrt"] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
const WEIGHT_CHECKS = ["sha256", "size"] as const;
export type WeightCheck = (typeof WEIGHT_CHECKS)[number];
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export { SettingError as ConfigError };

/** How early Bun may close an idle connection (its idle clock ticks in seconds). */
const IDLE_JITTER_S = 4;

const PERFORMANCE = "bench/results/2026-11-30-performance.md";
const ARCHITECTURES_BENCH = "bench/results/2026-12-03-architectures.md";
const CPU_SWEEP = `${PERFORMANCE}#1-cpu-batching-by-token-budget`;
const GPU_TUNING = `${PERFORMANCE}#tuning-the-gpu-defaults-saturation-64-clients-60-s-each-all-else-default`;

/** Every setting, in README's order, at the place of the Config field it fills. */
export const SETTINGS = {
  host: { name: "HOST", type: host, default: "0.0.0.0", doc: "interface to listen on" },
  port: { name: "PORT", type: integer(0, 65535), default: 8000, doc: "TCP port to listen on" },
  enginesDir: ENGINES_DIR,
  autoConvert: {
    name: "AUTO_CONVERT",
    type: boolean,
    default: true,
    doc: "on start, convert the manifest's models if `ENGINES_DIR` has none (needs the Hub; convert's variables: see Converting models)",
  },
  // sha256 runs in each model's worker, in parallel: about 1 s per 1.1 GB model on one core; five
  // full-size models on 2 cores added 3 s to a 10 s start. `size`, for fast restarts, hashes the graph and
  // checks that the weights file holds every weight's range. A mismatch fails the start, naming the file.
  verifyWeights: {
    name: "VERIFY_WEIGHTS",
    type: oneOf(WEIGHT_CHECKS),
    default: "sha256",
    doc: "how a model's files are checked against `engine.json` before a worker loads them: `sha256` hashes every byte, `size` only the graph",
  },
  maxBodyBytes: {
    name: "MAX_BODY_BYTES",
    type: integer(16),
    default: 1024 * 1024,
    doc: "requests larger than this get 413 (checked while reading, not after)",
  },
  // Counted as bytes arrive, so a declared length alone holds nothing: a thousand connections each
  // sending MAX_BODY_BYTES cannot add a gigabyte.
  maxBufferedBodyBytes: {
    name: "MAX_BUFFERED_BODY_BYTES",
    type: integer(1024),
    default: 64 * 1024 * 1024,
    doc: "bytes of request bodies held in memory at once, across all connections; a body that would pass it gets 503 `overloaded`",
  },
  maxTextsPerRequest: {
    name: "MAX_TEXTS_PER_REQUEST",
    type: integer(1, 4096),
    default: 64,
    doc: "the longest JSON array of texts one request may send",
  },
  // A model sees at most a few thousand characters (512 tokens); tokenizing is ~1 s per MB of text, all of
  // which transformers would do before truncating. Cutting earlier is not exact (normalization reaches
  // across any cut), so longer texts are refused instead of tokenized.
  maxTextChars: {
    name: "MAX_TEXT_CHARS",
    type: integer(1),
    default: 100_000,
    doc: "the longest text, in UTF-16 code units (JavaScript's length); a longer one gets 413 `text_too_long` naming the limit",
  },
  // XLM-R, RoBERTa and BERT stop at 512 by their position tables. DeBERTa-v2/v3 (relative positions) and
  // ModernBERT (rotary, 8192) take longer rows, at a cost that grows with the square of the length.
  // Each label is a row per sequence through the NLI model: labels × sequences rows, all counted by admission.
  maxCandidateLabels: {
    name: "MAX_CANDIDATE_LABELS",
    type: integer(1, 1024),
    default: 32,
    doc: "the most candidate labels one /zero-shot request may give (each is one model row per sequence)",
  },
  maxSequenceLength: {
    name: "MAX_SEQUENCE_LENGTH",
    type: integer(8, 1_000_000),
    default: 512,
    doc: "the longest row in tokens for any model, within its own limit (position table, TensorRT profile); longer texts are cut as truncation=True cuts them",
    measured: ARCHITECTURES_BENCH,
  },
  // Tokenizers run in processes of their own: a tokenizer that panics (the Rust binding aborts its
  // process) costs one request and a restart there, never the service. Each loads every family
  // (XLM-R's: ~170 MB); the jobs encoding at once are at most this many, so abandoned uploads cannot pile up work.
  tokenizerProcesses: {
    name: "TOKENIZER_PROCESSES",
    type: integer(1, 64),
    default: 2,
    doc: "tokenizer processes (each encodes one request's texts at a time; the others wait in order)",
  },
  tokenizerRecycleRssPercent: {
    name: "TOKENIZER_RECYCLE_RSS_PERCENT",
    type: integer(101, 100_000),
    default: 130,
    doc: "a tokenizer process whose memory grew past this percentage of its size after loading is replaced after its job (the allocator keeps what long texts took)",
  },
  batch: {
    maxBatchSize: MAX_BATCH_SIZE,
    // On an FP32 GPU a run costs a fixed part (weights read, launches: ~1.6 ms for an XLM-R base on a T4)
    // plus its padded tokens' FLOPs (~0.04 ms a token): from 1024 tokens the fixed part is under 4% and a
    // larger batch only adds padding (simulated T4 at saturation: 1024 reached 0.89 of the maximum, 16384 0.77).
    maxBatchTokens: {
      name: "MAX_BATCH_TOKENS",
      type: integer(512),
      default: 1024,
      doc: "padded tokens (longest row × rows) per inference call; a single longer row runs alone",
      measured: GPU_TUNING,
    },
    // With one worker per model it never applies: the next batch leaves when the running one returns,
    // holding what queued meanwhile. It matters with WORKERS_PER_MODEL > 1.
    maxQueueDelayMs: {
      name: "MAX_QUEUE_DELAY_MS",
      type: integer(0, 10_000),
      default: 5,
      doc: "how long a row may wait for a fuller batch while its model runs another; an idle model never waits",
      measured: GPU_TUNING,
    },
  },
  cpuBatch: {
    // The token budget below is what limits CPU batches by default.
    maxBatchSize: {
      name: "CPU_MAX_BATCH_SIZE",
      type: integer(1, 1024),
      default: 32,
      doc: "rows per inference call for models on the CPU provider (at most `MAX_BATCH_SIZE`)",
      measured: CPU_SWEEP,
    },
    // On a CPU a batch costs its tokens: padded, rows of similar length were grouped up to this budget.
    // 256 was the best over the graders' texts and tweets (flat caps 1, 4, 8; budgets 128, 256, 512; 1 and
    // 2 intra-op threads), measured padded: larger budgets padded more than they saved. Models with a
    // packed graph pad nothing, so the oldest rows fill it (app/batching/policy.ts); not re-measured packed.
    maxBatchTokens: {
      name: "CPU_MAX_BATCH_TOKENS",
      type: integer(1),
      default: 256,
      doc: "tokens per call for CPU models (at most `MAX_BATCH_TOKENS`): longest row × rows, or on the packed graph the rows' tokens plus attention",
      measured: CPU_SWEEP,
    },
  },
  // On a GPU the five models already keep the one device busy: more workers split the same rows into smaller batches.
  workersPerModel: {
    name: "WORKERS_PER_MODEL",
    type: integer(1, 64),
    default: 1,
    doc: "inference workers (threads, each with its own session) per model",
    measured: GPU_TUNING,
  },
  intraOpThreads: {
    name: "INTRA_OP_THREADS",
    type: integer(1, 256),
    default: null,
    derived: "cores ÷ sessions loaded",
    doc: "onnxruntime threads per session; unset, the cores divided among the sessions loaded (models × `WORKERS_PER_MODEL`), at least one each",
    measured: CPU_SWEEP,
  },
  // Which fits: app/inference/provider-choice.ts.
  executionProviders: {
    name: "EXECUTION_PROVIDERS",
    type: listOf(EXECUTION_PROVIDERS),
    default: ["tensorrt", "cuda", "cpu"],
    doc: "preference order, comma-separated: each model takes the first that fits this machine (see GPU below); CPU is always the last resort",
  },
  // About throughput × the wait you accept.
  maxQueuedTexts: {
    name: "MAX_QUEUED_TEXTS",
    type: integer(1),
    default: 1024,
    doc: "texts accepted and not yet answered; a request that would pass it is shed at once (503 `overloaded`, Retry-After)",
    measured: "bench/results/2026-11-30-overload-full.md",
  },
  requestTimeoutMs: {
    name: "REQUEST_TIMEOUT_MS",
    type: integer(1, 3_600_000),
    default: 30_000,
    doc: "a request's deadline (a client may ask for less: `x-request-timeout-ms`); rows still queued then are dropped (504)",
  },
  // Bun checks idle connections on a clock that ticks in seconds, so a closer body timeout can lose the
  // race and the slow client sees a bare close instead of the 408 (loadConfig holds the margin).
  bodyTimeoutMs: {
    name: "BODY_TIMEOUT_MS",
    type: integer(1, 600_000),
    default: 10_000,
    doc: `the longest a client may take to send its body (408 \`request_timeout\`); at least ${IDLE_JITTER_S} s below \`IDLE_TIMEOUT_S\``,
  },
  // Also cuts off clients that never finish their headers. Above the balancer's, so that it never reuses
  // a connection the service is closing.
  idleTimeoutS: {
    name: "IDLE_TIMEOUT_S",
    type: integer(1, 255),
    default: 65,
    doc: "a connection silent this long is closed (Bun's `idleTimeout`); keep it above a load balancer's (AWS ALB: 60 s)",
  },
  drainTimeoutMs: {
    name: "DRAIN_TIMEOUT_MS",
    type: integer(0, 600_000),
    default: 25_000,
    doc: "on SIGTERM/SIGINT, how long accepted requests may take to finish; under the orchestrator's grace period (Kubernetes: 30 s)",
  },
  logging: {
    level: { name: "LOG_LEVEL", type: oneOf(LOG_LEVELS), default: "info", doc: "pino level" },
    sample: {
      name: "LOG_SAMPLE",
      type: fraction,
      default: 1,
      doc: "the share of successful requests logged (one line each); errors are always logged",
    },
    texts: {
      name: "LOG_TEXTS",
      type: boolean,
      default: false,
      doc: "also log the texts of each request; off by default: texts are users' data",
    },
  },
} satisfies SettingsOf<Config>;

/** SETTINGS as a list, in declaration order: what README's table and the deploy checks read. */
export const SETTING_LIST: readonly Setting[] = settingList(SETTINGS);

/** The service's configuration: the environment read through SETTINGS, then the rules between settings. */
export function loadConfig(env: Env = process.env): Config {
  const c = readSettings<Config>(SETTINGS, env);
  if (c.bodyTimeoutMs > (c.idleTimeoutS - IDLE_JITTER_S) * 1000) {
    const rule = `must be at least ${IDLE_JITTER_S} s below IDLE_TIMEOUT_S (${c.idleTimeoutS} s)`;
    throw new SettingError("BODY_TIMEOUT_MS", `${rule}, or connections may be closed before the 408 is sent`);
  }
  if (c.maxQueuedTexts < c.maxTextsPerRequest) {
    const rule = `must be at least MAX_TEXTS_PER_REQUEST (${c.maxTextsPerRequest})`;
    throw new SettingError("MAX_QUEUED_TEXTS", `${rule}, or the longest request could never be accepted`);
  }
  return c;
}

if (import.meta.main) console.log(settingsMarkdown(SETTING_LIST));
