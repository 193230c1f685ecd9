/**
 * Environment → typed configuration, validated at start. Every setting is declared once, in SETTINGS:
 * its variable, type and bounds, default, and what it does. README's configuration table is that
 * table (`bun app/config.ts` prints it; app/config.test.ts holds them equal).
 */
export interface Config {
  host: string;
  port: number;
  enginesDir: string;
  autoConvert: boolean;
  verifyWeights: WeightCheck;
  maxBodyBytes: number;
  maxBufferedBodyBytes: number;
  maxTextsPerRequest: number;
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

/** Turns a variable's non-empty text into its value, or throws a ConfigError naming the variable. */
interface Parser<T> {
  parse(raw: string, name: string): T;
}
export type SettingType =
  | (Parser<number> & { kind: "integer"; min: number; max: number })
  | (Parser<boolean> & { kind: "boolean" })
  | (Parser<number> & { kind: "fraction" })
  | (Parser<string> & { kind: "oneOf"; values: readonly string[] })
  | (Parser<string> & { kind: "string" })
  | (Parser<string> & { kind: "host" })
  | (Parser<ExecutionProvider[]> & { kind: "providers" });

/** One environment variable. T is the Config field it fills: a type that cannot fill it is a type error. */
export interface Setting<T = unknown> {
  name: string;
  type: SettingType & Parser<T>;
  /** The value when the variable is unset or empty. */
  default: T;
  /** README's default cell when the default is worked out at run time rather than a value one could set. */
  derived?: string;
  /** What it does and why, in markdown: README's configuration table shows this text. */
  doc: string;
}

/** Config's shape with a Setting at each leaf: a field without a setting, or the reverse, is a type error. */
export type SettingsOf<C> = {
  [K in keyof C]: C[K] extends readonly unknown[]
    ? Setting<C[K]>
    : C[K] extends object
      ? SettingsOf<C[K]>
      : Setting<C[K]>;
};

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return {
    kind: "integer" as const,
    min,
    max,
    parse(raw: string, name: string): number {
      const v = Number(raw);
      if (!Number.isInteger(v) || v < min || v > max)
        throw new ConfigError(name, `expected an integer from ${min} to ${max}, got "${raw}"`);
      return v;
    },
  };
}

const boolean = {
  kind: "boolean" as const,
  parse(raw: string, name: string): boolean {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(name, `expected true or false, got "${raw}"`);
  },
};

const fraction = {
  kind: "fraction" as const,
  parse(raw: string, name: string): number {
    const v = Number(raw);
    if (!/^\s*[\d.]+\s*$/.test(raw) || !(v >= 0 && v <= 1))
      throw new ConfigError(name, `expected a number from 0 to 1, got "${raw}"`);
    return v;
  },
};

function oneOf<V extends string>(values: readonly V[]) {
  return {
    kind: "oneOf" as const,
    values,
    parse(raw: string, name: string): V {
      if (!(values as readonly string[]).includes(raw))
        throw new ConfigError(name, `expected one of ${values.join(", ")}, got "${raw}"`);
      return raw as V;
    },
  };
}

const text = { kind: "string" as const, parse: (raw: string): string => raw };

/** An address to listen on: IPv4, IPv6 or a host name (an invalid one made listen fail with an ioctl error and a stack). */
const host = {
  kind: "host" as const,
  parse(raw: string, name: string): string {
    const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
    const ipv6 = /^[0-9a-f:]+(%[\w.-]+)?$/i;
    const hostname = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
    const looksNumeric = /^[\d.]+$/.test(raw);
    if (looksNumeric ? ipv4.test(raw) : raw.includes(":") ? ipv6.test(raw) : hostname.test(raw)) return raw;
    throw new ConfigError(name, `expected an IP address or a host name, got "${raw.slice(0, 80)}"`);
  },
};

const providers = {
  kind: "providers" as const,
  parse(raw: string, name: string): ExecutionProvider[] {
    const list = raw
      .split(",")
      .map((p) => p.trim().toLowerCase())
      .filter(Boolean);
    const known = EXECUTION_PROVIDERS as readonly string[];
    for (const p of list)
      if (!known.includes(p)) throw new ConfigError(name, `unknown provider "${p}" (${known.join(", ")})`);
    if (list.length === 0) throw new ConfigError(name, "no provider given");
    return list as ExecutionProvider[];
  },
};

/** How early Bun may close an idle connection (its idle clock ticks in seconds). */
const IDLE_JITTER_S = 4;

/** Every setting, in README's order, at the place of the Config field it fills. */
export const SETTINGS = {
  host: { name: "HOST", type: host, default: "0.0.0.0", doc: "interface to listen on" },
  port: { name: "PORT", type: integer(0, 65535), default: 8000, doc: "TCP port to listen on" },
  enginesDir: {
    name: "ENGINES_DIR",
    type: text,
    default: "./engines",
    doc: "what `bun run convert` wrote (`index.json`, one folder per model, `tokenizers/`)",
  },
  autoConvert: {
    name: "AUTO_CONVERT",
    type: boolean,
    default: true,
    doc:
      "on start, convert the manifest's models if `ENGINES_DIR` has none (needs the Hub; the convert reads its own " +
      "variables, such as `MANIFEST`: see Converting models)",
  },
  verifyWeights: {
    name: "VERIFY_WEIGHTS",
    type: oneOf(WEIGHT_CHECKS),
    default: "sha256",
    doc:
      "how each model's files are checked against its `engine.json` before a worker loads them (at start and at " +
      "every worker restart): `sha256` hashes the graph and every weight's bytes against the hashes recorded at " +
      "conversion (in each model's worker, in parallel: about 1 s per 1.1 GB model on one core; five full-size " +
      "models on 2 cores added 3 s to a 10 s start); `size` hashes only the graph and checks that the weights " +
      "file holds every weight's range, for fast restarts. A mismatch fails the start, naming the file (convert again)",
  },
  maxBodyBytes: {
    name: "MAX_BODY_BYTES",
    type: integer(16),
    default: 1024 * 1024,
    doc: "requests larger than this get 413 (checked while reading, not after)",
  },
  maxBufferedBodyBytes: {
    name: "MAX_BUFFERED_BODY_BYTES",
    type: integer(1024),
    default: 64 * 1024 * 1024,
    doc:
      "request bodies held in memory at once, across all connections (counted as bytes arrive, so a declared " +
      "length alone holds nothing); a body that would pass it gets 503 `overloaded`: a thousand connections " +
      "each sending `MAX_BODY_BYTES` cannot add a gigabyte",
  },
  maxTextsPerRequest: {
    name: "MAX_TEXTS_PER_REQUEST",
    type: integer(1, 4096),
    default: 64,
    doc: "the longest JSON array of texts one request may send",
  },
  batch: {
    maxBatchSize: {
      name: "MAX_BATCH_SIZE",
      type: integer(1, 1024),
      default: 32,
      doc: "rows per inference call; larger batches raise GPU throughput (CPU models: `CPU_MAX_BATCH_SIZE`)",
    },
    maxBatchTokens: {
      name: "MAX_BATCH_TOKENS",
      type: integer(512),
      default: 1024,
      doc:
        "budget of padded tokens (longest row × rows) per call. On a GPU running FP32 a run costs a fixed part " +
        "(reading the weights, kernel launches: ~1.6 ms for an XLM-R base on a T4, modelled) plus its padded tokens' " +
        "FLOPs (~0.04 ms a token, modelled): from 1024 tokens the fixed part is under 4% and a larger batch only adds padding. On " +
        "a simulated T4 at saturation (graders' texts) 1024 reached 0.89 of the device's maximum, 16384 0.77 " +
        "([bench/results/2026-11-30-performance.md](bench/results/2026-11-30-performance.md)); a single longer " +
        "row runs alone",
    },
    maxQueueDelayMs: {
      name: "MAX_QUEUE_DELAY_MS",
      type: integer(0, 10_000),
      default: 5,
      doc:
        "how long a row may wait for a fuller batch while another batch of its model runs; an idle model never " +
        "waits (the first row is sent at once). With one worker per model it never applies: the next batch " +
        "leaves when the running one returns, holding what queued meanwhile (it matters with `WORKERS_PER_MODEL` > 1)",
    },
  },
  cpuBatch: {
    maxBatchSize: {
      name: "CPU_MAX_BATCH_SIZE",
      type: integer(1, 1024),
      default: 32,
      doc:
        "rows per inference call (at most `MAX_BATCH_SIZE`) for models on the CPU provider; the token budget " +
        "below is what limits CPU batches by default",
    },
    maxBatchTokens: {
      name: "CPU_MAX_BATCH_TOKENS",
      type: integer(1),
      default: 256,
      doc:
        "padded tokens (longest row × rows) per inference call (at most `MAX_BATCH_TOKENS`) for models on the CPU " +
        "provider: on a CPU a batch costs its padded tokens, so rows of similar length are grouped up to this " +
        "budget (a longer row runs alone). 256 was the best over the graders' texts and tweets in a measured sweep " +
        "(flat row caps 1, 4, 8; budgets 128, 256, 512; 1 and 2 intra-op threads: " +
        "[bench/results/2026-11-30-performance.md](bench/results/2026-11-30-performance.md)); larger budgets " +
        "pad more than they save",
    },
  },
  workersPerModel: {
    name: "WORKERS_PER_MODEL",
    type: integer(1, 64),
    default: 1,
    doc: "inference workers (threads, each with its own session) per model",
  },
  intraOpThreads: {
    name: "INTRA_OP_THREADS",
    type: integer(1, 256),
    default: null,
    derived: "cores ÷ sessions loaded",
    doc:
      "onnxruntime threads per session; unset, the service divides the cores among the sessions it loads " +
      "(models × `WORKERS_PER_MODEL`), at least one each",
  },
  executionProviders: {
    name: "EXECUTION_PROVIDERS",
    type: providers,
    default: ["tensorrt", "cuda", "cpu"],
    doc:
      "preference order, comma-separated; each model takes the first that fits this machine (TensorRT only with " +
      "an engine built for this GPU and TensorRT version, CUDA only with a GPU: `app/inference/provider-choice.ts`); " +
      "CPU is always the last resort",
  },
  maxQueuedTexts: {
    name: "MAX_QUEUED_TEXTS",
    type: integer(1),
    default: 1024,
    doc:
      "texts accepted and not yet answered (tokenizing, queued or running); a request that would pass it is shed " +
      "at once (503 `overloaded`, Retry-After) instead of queueing without bound. About throughput × the wait you " +
      "accept; at least `MAX_TEXTS_PER_REQUEST`, or the longest request could never be accepted",
  },
  requestTimeoutMs: {
    name: "REQUEST_TIMEOUT_MS",
    type: integer(1, 3_600_000),
    default: 30_000,
    doc:
      "the deadline of a request; a client may ask for less with the header `x-request-timeout-ms`. Rows still " +
      "queued at the deadline are dropped unrun (504 `deadline_exceeded`)",
  },
  bodyTimeoutMs: {
    name: "BODY_TIMEOUT_MS",
    type: integer(1, 600_000),
    default: 10_000,
    doc:
      `the longest a client may take to send its body (408 \`request_timeout\`); at least ${IDLE_JITTER_S} s ` +
      "below `IDLE_TIMEOUT_S`: Bun checks idle connections on a clock that ticks in seconds, so a closer body " +
      "timeout can lose the race and the slow client sees a bare close instead of the 408",
  },
  idleTimeoutS: {
    name: "IDLE_TIMEOUT_S",
    type: integer(1, 255),
    default: 65,
    doc:
      "a connection silent this long is closed (Bun's `idleTimeout`; also cuts off clients that never finish " +
      "their headers). Above a load balancer's own idle timeout (AWS ALB: 60 s), so the balancer never reuses a " +
      "connection the service is closing",
  },
  drainTimeoutMs: {
    name: "DRAIN_TIMEOUT_MS",
    type: integer(0, 600_000),
    default: 25_000,
    doc:
      "on SIGTERM/SIGINT, how long accepted requests may take to finish before the process exits anyway; keep it " +
      "under the orchestrator's grace period (Kubernetes: 30 s)",
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

const isSetting = (x: unknown): x is Setting => typeof x === "object" && x !== null && "type" in x && "name" in x;

/** SETTINGS as a list, in declaration order: what README's table and the deploy checks read. */
export const SETTING_LIST: readonly Setting[] = (function flatten(tree: object): Setting[] {
  return Object.values(tree).flatMap((v) => (isSetting(v) ? [v] : flatten(v)));
})(SETTINGS);

function read<C>(tree: SettingsOf<C>, env: Env): C {
  const entries = Object.entries(tree).map(([field, s]) => {
    if (!isSetting(s)) return [field, read(s as SettingsOf<unknown>, env)];
    const raw = env[s.name];
    if (raw !== undefined && raw !== "") return [field, s.type.parse(raw, s.name)];
    // A copy, so that no caller can change the default of the next loadConfig.
    return [field, Array.isArray(s.default) ? [...s.default] : s.default];
  });
  return Object.fromEntries(entries) as C;
}

export function loadConfig(env: Env = process.env): Config {
  const c = read<Config>(SETTINGS, env);
  if (c.bodyTimeoutMs > (c.idleTimeoutS - IDLE_JITTER_S) * 1000) {
    const rule = `must be at least ${IDLE_JITTER_S} s below IDLE_TIMEOUT_S (${c.idleTimeoutS} s)`;
    throw new ConfigError("BODY_TIMEOUT_MS", `${rule}, or connections may be closed before the 408 is sent`);
  }
  if (c.maxQueuedTexts < c.maxTextsPerRequest) {
    const rule = `must be at least MAX_TEXTS_PER_REQUEST (${c.maxTextsPerRequest})`;
    throw new ConfigError("MAX_QUEUED_TEXTS", `${rule}, or the longest request could never be accepted`);
  }
  return c;
}

/** A setting's default as README shows it: numbers bare, other values as code. */
function defaultCell(s: Setting): string {
  if (s.derived !== undefined) return s.derived;
  const v = Array.isArray(s.default) ? s.default.join(",") : String(s.default);
  return typeof s.default === "number" ? v : `\`${v}\``;
}

function acceptsCell(t: SettingType): string {
  switch (t.kind) {
    case "integer":
      return t.max === Number.MAX_SAFE_INTEGER ? `integer ≥ ${t.min}` : `integer ${t.min}–${t.max}`;
    case "boolean":
      return "`true`/`false` (also 1/0, yes/no, on/off)";
    case "fraction":
      return "0–1";
    case "oneOf":
      return t.values.map((v) => `\`${v}\``).join(", ");
    case "string":
      return "text";
    case "host":
      return "an IP address or a host name";
    case "providers":
      return `a list of ${EXECUTION_PROVIDERS.map((p) => `\`${p}\``).join(", ")}`;
  }
}

/** README's configuration table, in markdown. */
export function settingsMarkdown(): string {
  const rows = SETTING_LIST.map((s) => `| \`${s.name}\` | ${defaultCell(s)} | ${acceptsCell(s.type)} | ${s.doc} |`);
  return ["| variable | default | accepts | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

if (import.meta.main) console.log(settingsMarkdown());
