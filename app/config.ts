import { availableParallelism } from "node:os";

/**
 * Environment → typed configuration, validated at start. Each knob is documented once, here;
 * README's configuration table is this list.
 */
export interface Config {
  host: string;
  port: number;
  enginesDir: string;
  /** Convert the manifest's models on start when enginesDir holds none. */
  autoConvert: boolean;
  maxBodyBytes: number;
  maxTextsPerRequest: number;
  batch: { maxBatchSize: number; maxBatchTokens: number; maxQueueDelayMs: number };
  /** The batch cap for models that run on the CPU provider. */
  cpuMaxBatchSize: number;
  workersPerModel: number;
  intraOpThreads: number;
  executionProviders: ExecutionProvider[];
  maxQueuedTexts: number;
  requestTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutS: number;
  drainTimeoutMs: number;
  tokenizerWorkers: number;
  inlineTokenizeChars: number;
  logging: { level: string; sample: number; texts: boolean };
}

export type ExecutionProvider = "cpu" | "cuda" | "tensorrt";

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** How early Bun may close an idle connection (its idle clock ticks in seconds). */
const IDLE_JITTER_S = 4;

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(name, `expected an integer from ${min} to ${max}, got "${raw}"`);
  return v;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!/^\s*[\d.]+\s*$/.test(raw) || !(v >= 0 && v <= 1)) throw new ConfigError(name, `expected a number from 0 to 1, got "${raw}"`);
  return v;
}

function oneOf(env: Env, name: string, fallback: string, allowed: string[]): string {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!allowed.includes(raw)) throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${raw}"`);
  return raw;
}

export function loadConfig(env: Env = process.env): Config {
  const models = 5;
  const providers = (env.EXECUTION_PROVIDERS || "tensorrt,cuda,cpu").split(",").map((p) => p.trim().toLowerCase()).filter(Boolean);
  for (const p of providers) if (!["cpu", "cuda", "tensorrt"].includes(p)) throw new ConfigError("EXECUTION_PROVIDERS", `unknown provider "${p}" (cpu, cuda, tensorrt)`);
  if (providers.length === 0) throw new ConfigError("EXECUTION_PROVIDERS", "no provider given");
  const workersPerModel = int(env, "WORKERS_PER_MODEL", 1, 1, 64);
  const maxTexts = int(env, "MAX_TEXTS_PER_REQUEST", 64, 1, 4096);
  const queued = int(env, "MAX_QUEUED_TEXTS", 1024, 1);
  const idleTimeoutS = int(env, "IDLE_TIMEOUT_S", 65, 1, 255);
  const bodyTimeoutMs = int(env, "BODY_TIMEOUT_MS", 10_000, 1, 600_000);
  // Bun checks idle connections on a coarse clock (seconds: a 2 s idle timeout closed a busy
  // connection after 237 ms here): a body timeout within a few seconds of it loses the race and the
  // slow client sees a bare close instead of a 408.
  if (bodyTimeoutMs > (idleTimeoutS - IDLE_JITTER_S) * 1000) throw new ConfigError("BODY_TIMEOUT_MS", `must be at least ${IDLE_JITTER_S} s below IDLE_TIMEOUT_S (${idleTimeoutS} s), or connections may be closed before the 408 is sent`);
  if (queued < maxTexts) throw new ConfigError("MAX_QUEUED_TEXTS", `must be at least MAX_TEXTS_PER_REQUEST (${maxTexts}), or the longest request could never be accepted`);
  return {
    // HOST: interface to listen on.
    host: env.HOST || "0.0.0.0",
    // PORT: TCP port.
    port: int(env, "PORT", 8000, 0, 65535),
    // ENGINES_DIR: what `bun run convert` wrote (index.json, one folder per model, tokenizers/).
    enginesDir: env.ENGINES_DIR || "./engines",
    // AUTO_CONVERT: on start, convert the manifest's models if ENGINES_DIR has none (needs the Hub).
    autoConvert: bool(env, "AUTO_CONVERT", true),
    // MAX_BODY_BYTES: requests larger than this get 413 (checked while reading, not after).
    maxBodyBytes: int(env, "MAX_BODY_BYTES", 1024 * 1024, 16),
    // MAX_TEXTS_PER_REQUEST: the longest JSON array of texts one request may send.
    maxTextsPerRequest: maxTexts,
    batch: {
      // MAX_BATCH_SIZE: rows per inference call. Larger batches raise GPU throughput; on CPU the gain is small.
      maxBatchSize: int(env, "MAX_BATCH_SIZE", 32, 1, 1024),
      // MAX_BATCH_TOKENS: budget of padded tokens (longest row × rows) per call; bounds memory and tail latency.
      maxBatchTokens: int(env, "MAX_BATCH_TOKENS", 16384, 512),
      // MAX_QUEUE_DELAY_MS: how long a row may wait for a fuller batch while another batch runs.
      // An idle model never waits: the first row is sent at once.
      maxQueueDelayMs: int(env, "MAX_QUEUE_DELAY_MS", 5, 0, 10_000),
    },
    // CPU_MAX_BATCH_SIZE: the batch cap (at most MAX_BATCH_SIZE) for models running on the CPU
    // provider. On CPU a batch costs what its rows cost one by one plus the padding (onnxruntime
    // already keeps the cores busy at batch 1), so batching only adds padding and waiting: measured
    // with full-size models on 2 cores, 10 clients, 20 s: 1.94 req/s at 32, 2.33 req/s at 1 (README, Benchmarks).
    cpuMaxBatchSize: int(env, "CPU_MAX_BATCH_SIZE", 1, 1, 1024),
    // WORKERS_PER_MODEL: inference workers (threads, each with its own session) per model.
    workersPerModel,
    // INTRA_OP_THREADS: onnxruntime threads per session. Default: the cores shared among all sessions, at least 1.
    intraOpThreads: int(env, "INTRA_OP_THREADS", Math.max(1, Math.floor(availableParallelism() / (models * workersPerModel))), 1, 256),
    // EXECUTION_PROVIDERS: preference order, comma-separated (tensorrt, cuda, cpu). Each model uses the
    // first that fits this machine (TensorRT only with an engine built for this GPU and TensorRT
    // version, CUDA only with a GPU): see app/gpu/choice.ts. CPU is always the last resort.
    executionProviders: providers as ExecutionProvider[],
    // MAX_QUEUED_TEXTS: texts accepted and not yet answered (tokenizing, queued or running). A request
    // that would pass it is shed at once with 503 overloaded and Retry-After, instead of queueing
    // without bound. Set it to about throughput × the wait you accept.
    maxQueuedTexts: queued,
    // REQUEST_TIMEOUT_MS: the deadline of a request; a client may ask for less with the header
    // x-request-timeout-ms. Rows still queued at the deadline are dropped unrun: 504 deadline_exceeded.
    requestTimeoutMs: int(env, "REQUEST_TIMEOUT_MS", 30_000, 1, 3_600_000),
    // BODY_TIMEOUT_MS: the longest a client may take to send its body (slow clients): 408 request_timeout.
    bodyTimeoutMs,
    // IDLE_TIMEOUT_S: a connection silent this long is closed (Bun's idleTimeout; also cuts off
    // clients that never finish their headers). Above a load balancer's own idle timeout (AWS ALB:
    // 60 s), so the balancer never reuses a connection the service is closing.
    idleTimeoutS,
    // DRAIN_TIMEOUT_MS: on SIGTERM/SIGINT, how long accepted requests may take to finish before the
    // process exits anyway. Keep it under the orchestrator's grace period (Kubernetes: 30 s).
    drainTimeoutMs: int(env, "DRAIN_TIMEOUT_MS", 25_000, 0, 600_000),
    // TOKENIZER_WORKERS: threads that tokenize long requests, so the HTTP thread never spends long
    // on one; 0 tokenizes everything on the HTTP thread.
    tokenizerWorkers: int(env, "TOKENIZER_WORKERS", 1, 0, 64),
    // INLINE_TOKENIZE_CHARS: requests with at most this many characters in all are tokenized on the
    // HTTP thread (cheaper than a hop to a worker; about 1 ms per 1000 characters).
    inlineTokenizeChars: int(env, "INLINE_TOKENIZE_CHARS", 4096, 0),
    logging: {
      // LOG_LEVEL: pino level (trace, debug, info, warn, error, fatal, silent).
      level: oneOf(env, "LOG_LEVEL", "info", ["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
      // LOG_SAMPLE: the share of successful requests logged (one line each); errors are always logged.
      sample: fraction(env, "LOG_SAMPLE", 1),
      // LOG_TEXTS: also log the texts of each request. Off by default: texts are users' data.
      texts: bool(env, "LOG_TEXTS", false),
    },
  };
}
