import { resolve } from "node:path";
import { httpUrl, integer, path, readSettings, type SettingsOf, text } from "../../lib/settings.ts";

/** What convert reads from its environment to reach the Hub. */
export interface HubEnvironment {
  endpoint: string;
  token: string | null;
  cacheDir: string;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  attempts: number;
  retryDelayMs: number;
}

/** The Hub's variables, in convert's README table and `--help` (convert/cli.ts). */
export const HUB_SETTINGS = {
  // A mirror, or in tests a local server speaking the Hub's URL scheme.
  endpoint: {
    name: "HF_ENDPOINT",
    type: httpUrl,
    default: "https://huggingface.co",
    doc: "the Hub to download from, or a mirror",
  },
  token: {
    name: "HF_TOKEN",
    type: text,
    default: null,
    derived: "none",
    doc: "access token for gated or private repositories, sent as a bearer token",
  },
  // Downloads are kept as `<cacheDir>/<org>/<name>/<commit>/<file>`.
  cacheDir: {
    name: "CONVERT_CACHE_DIR",
    type: path,
    default: "./.cache/hub",
    doc: "where downloads are kept; a download retried resumes from its partial file",
  },
  // A Hub that accepts connections and never answers must fail a first start within minutes, saying why.
  connectTimeoutMs: {
    name: "HF_CONNECT_TIMEOUT_MS",
    type: integer(1, 600_000),
    default: 10_000,
    doc: "longest wait for the Hub to start answering a request (until its headers arrive)",
  },
  readTimeoutMs: {
    name: "HF_READ_TIMEOUT_MS",
    type: integer(1, 3_600_000),
    default: 30_000,
    doc: "longest silence between bytes of an answer, not a download's total time",
  },
  attempts: {
    name: "HF_MAX_ATTEMPTS",
    type: integer(1, 20),
    default: 4,
    doc: "tries per request, the first included; timeouts, lost connections, 408, 429 and 5xx are retried",
  },
  retryDelayMs: {
    name: "HF_RETRY_DELAY_MS",
    type: integer(0, 60_000),
    default: 1000,
    doc: "wait before the first retry, doubled for each further one, with jitter, at most 30 s",
  },
} satisfies SettingsOf<HubEnvironment>;

export interface HubSettings extends Omit<HubEnvironment, "token"> {
  token?: string;
  /** Show a progress bar (on a terminal). */
  progress: boolean;
  /** Without a progress bar, a progress line goes to `log` this often while a file downloads. */
  progressEveryMs: number;
  /** Retry notices and (without a bar) progress lines; none when unset. */
  log?: (line: string) => void;
  /** Jitter's source of randomness (tests inject one); Math.random when unset. */
  random?: () => number;
}

/** Off a terminal (an init container), how often a progress line is written while a file downloads. */
const PROGRESS_EVERY_MS = 5000;

const { connectTimeoutMs, readTimeoutMs, attempts, retryDelayMs } = readSettings<HubEnvironment>(HUB_SETTINGS, {});
/** The defaults of the settings a caller does not usually choose (tests spread these). */
export const HUB_DEFAULTS = {
  connectTimeoutMs,
  readTimeoutMs,
  attempts,
  retryDelayMs,
  progressEveryMs: PROGRESS_EVERY_MS,
} satisfies Partial<HubSettings>;

/** The Hub's settings for convert: what its environment says, and how it reports (to `stderr`). */
export function hubSettings(env: HubEnvironment, stderr = process.stderr): HubSettings {
  const { token, cacheDir, ...rest } = env;
  return {
    ...rest,
    token: token ?? undefined,
    cacheDir: resolve(cacheDir),
    progress: Boolean(stderr.isTTY),
    progressEveryMs: PROGRESS_EVERY_MS,
    // stderr: the first-start convert's stdout also goes there, and the service's stdout stays JSON lines.
    log: (line) => stderr.write(`${line}\n`),
  };
}
