import { join } from "node:path";

export interface HubSettings {
  /** HF_ENDPOINT: a mirror or, in tests, a local server speaking the Hub's URL scheme. */
  endpoint: string;
  /** HF_TOKEN, for gated or private repositories. */
  token?: string;
  /** Where downloads are kept: `<cacheDir>/<org>/<name>/<commit>/<file>`. */
  cacheDir: string;
  /** Show a progress bar (on a terminal). */
  progress: boolean;
  /** Longest wait for a response to begin: connecting plus the Hub starting its answer. */
  connectTimeoutMs: number;
  /** Longest silence between bytes of a response body (not the total time of a download). */
  readTimeoutMs: number;
  /** Tries per request, the first included: transient failures (timeouts, 429, 5xx) are retried. */
  attempts: number;
  /** The wait before the first retry; it doubles for each further one (with jitter, at most 30 s). */
  retryDelayMs: number;
  /** Without a progress bar, a progress line goes to `log` this often while a file downloads. */
  progressEveryMs: number;
  /** Retry notices and (without a bar) progress lines; none when unset. */
  log?: (line: string) => void;
  /** Jitter's source of randomness (tests inject one); Math.random when unset. */
  random?: () => number;
}

/** The knobs convert reads from its environment besides HF_ENDPOINT, HF_TOKEN and CONVERT_CACHE_DIR. */
const KNOBS = {
  // A Hub that accepts connections and never answers must fail a first start within minutes, saying why.
  connectTimeoutMs: {
    name: "HF_CONNECT_TIMEOUT_MS",
    default: 10_000,
    min: 1,
    max: 600_000,
    doc: "longest wait for the Hub to start answering a request",
  },
  readTimeoutMs: {
    name: "HF_READ_TIMEOUT_MS",
    default: 30_000,
    min: 1,
    max: 3_600_000,
    doc: "longest silence between bytes of an answer, not a download's total time",
  },
  attempts: {
    name: "HF_MAX_ATTEMPTS",
    default: 4,
    min: 1,
    max: 20,
    doc: "tries per request; timeouts, lost connections, 408, 429 and 5xx are retried",
  },
  retryDelayMs: {
    name: "HF_RETRY_DELAY_MS",
    default: 1000,
    min: 0,
    max: 60_000,
    doc: "wait before the first retry, doubled for each further one, with jitter",
  },
} as const;

/** The knobs for convert's USAGE, one line each. */
export const HUB_ENVIRONMENT_HELP = Object.values(KNOBS)
  .map((k) => `  ${k.name.padEnd(22)} ${k.doc} (default ${k.default})`)
  .join("\n");

/** Defaults of the settings a caller does not usually choose (tests spread these). */
export const HUB_DEFAULTS = {
  connectTimeoutMs: KNOBS.connectTimeoutMs.default,
  readTimeoutMs: KNOBS.readTimeoutMs.default,
  attempts: KNOBS.attempts.default,
  retryDelayMs: KNOBS.retryDelayMs.default,
  progressEveryMs: 5000,
} satisfies Partial<HubSettings>;

/** Reads a knob's variable: unset or empty is its default, anything but an integer in bounds is an error naming it. */
function knob(env: Record<string, string | undefined>, k: (typeof KNOBS)[keyof typeof KNOBS]): number {
  const raw = env[k.name]?.trim();
  if (!raw) return k.default;
  const v = Number(raw);
  if (!/^\d+$/.test(raw) || v < k.min || v > k.max)
    throw new Error(`${k.name} (${k.doc}) expects an integer from ${k.min} to ${k.max}, got "${env[k.name]}"`);
  return v;
}

export function hubSettingsFromEnv(env = process.env, stderr = process.stderr): HubSettings {
  const endpoint = (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol))
    throw new Error(`HF_ENDPOINT expects an http(s) URL such as https://huggingface.co, got "${env.HF_ENDPOINT}"`);
  return {
    endpoint,
    token: env.HF_TOKEN || undefined,
    cacheDir: env.CONVERT_CACHE_DIR ?? join(process.cwd(), ".cache", "hub"),
    progress: Boolean(stderr.isTTY),
    connectTimeoutMs: knob(env, KNOBS.connectTimeoutMs),
    readTimeoutMs: knob(env, KNOBS.readTimeoutMs),
    attempts: knob(env, KNOBS.attempts),
    retryDelayMs: knob(env, KNOBS.retryDelayMs),
    progressEveryMs: HUB_DEFAULTS.progressEveryMs,
    // stderr: the first-start convert's stdout also goes there, and the service's stdout stays JSON lines.
    log: (line) => stderr.write(`${line}\n`),
  };
}
