import { HubApiError } from "@huggingface/hub";
import { ConvertError } from "../errors.ts";
import type { HubSettings } from "./settings.ts";
import { HubRequestError, timedFetch, type HubFailure } from "./transport.ts";

/** The longest wait between two attempts, whatever the attempt number. */
export const MAX_RETRY_DELAY_MS = 30_000;

/** What a failure means for the job, and which words an error about it needs. */
export interface HubJob {
  /** What a ConvertError names: `<endpoint>/<org>/<name>@<revision>` or `<org>/<name>/<file>`. */
  subject: string;
  /** What failed, e.g. "cannot list the repository", "download failed". */
  action: string;
  /** A 404 means a missing repository/revision, or a file the listing promised. */
  target: "repository" | "file";
}

/**
 * The Hub failure behind an error, or null when the error is not about talking to the Hub (a checksum
 * mismatch, a bug): those are final and pass through as they are. `lastSeen` is what the attempt's fetch
 * saw, for errors @huggingface/hub reduced to a string.
 */
export function failureOf(error: unknown, lastSeen?: HubFailure): HubFailure | null {
  if (error instanceof ConvertError) return null;
  if (error instanceof HubRequestError) return error.failure;
  if (error instanceof HubApiError) {
    const said = (error.data as { error?: unknown } | undefined)?.error;
    const detail = typeof said === "string" ? said : error.message.replace(/\. URL: .*$/s, "");
    return { kind: "status", status: error.statusCode, detail };
  }
  if (lastSeen) return lastSeen;
  return typeof error === "string" ? { kind: "network", detail: error } : null;
}

/** Timeouts, dropped connections, 408, 429 and 5xx may pass; any other answer (404, 401, 403) is final. */
export function isTransient(failure: HubFailure): boolean {
  if (failure.kind !== "status") return true;
  return failure.status === 408 || failure.status === 429 || failure.status >= 500;
}

/**
 * Exponential back-off with jitter: the n-th retry waits between half and all of delay × 2^(n-1), so
 * instances restarted together do not retry in step.
 */
export function retryDelayMs(retry: number, firstDelayMs: number, random: () => number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, firstDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

function describeFailure(failure: HubFailure): string {
  switch (failure.kind) {
    case "timeout":
      return failure.phase === "connect"
        ? `no answer within ${failure.ms} ms (HF_CONNECT_TIMEOUT_MS)`
        : `no bytes for ${failure.ms} ms (HF_READ_TIMEOUT_MS)`;
    case "network":
      return `cannot reach the Hub (${failure.detail})`;
    case "status":
      return `the Hub answered ${failure.status}${failure.detail ? ` (${failure.detail})` : ""}`;
  }
}

/** What the operator can do about a failure that ended the job. */
function adviceFor(
  failure: HubFailure,
  job: Pick<HubJob, "target">,
  hub: Pick<HubSettings, "endpoint" | "token">,
): string {
  const network = `check HF_ENDPOINT (${hub.endpoint}) and the network (proxy, firewall, DNS)`;
  if (failure.kind === "timeout")
    return failure.phase === "read" ? `${network}, or raise HF_READ_TIMEOUT_MS on a slow link` : network;
  if (failure.kind === "network") return network;
  const { status } = failure;
  if (status === 401)
    return hub.token
      ? "HF_TOKEN was refused: check that it is a valid token"
      : "the repository is private or gated: set HF_TOKEN to a token with access to it";
  if (status === 403)
    return "HF_TOKEN has no access to this repository (a gated one: accept its terms on the Hub with that account)";
  if (status === 404)
    return job.target === "repository"
      ? "no such repository or revision: check the model's name and revision (and HF_TOKEN if it is private)"
      : `the repository lists this file but HF_ENDPOINT (${hub.endpoint}) does not serve it: check the mirror`;
  if (isTransient(failure)) return `the Hub at HF_ENDPOINT (${hub.endpoint}) is overloaded or failing: try again later`;
  return `check HF_ENDPOINT (${hub.endpoint})`;
}

/** The error that ends a job: what, how often it was tried, what failed and what to do. */
export function finalMessage(
  failure: HubFailure,
  attempts: number,
  job: HubJob,
  hub: Pick<HubSettings, "endpoint" | "token">,
): string {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  return `${job.action}${tries}: ${describeFailure(failure)}; ${adviceFor(failure, job, hub)}`;
}

/** The line logged before a retry, so a log shows a slow Hub rather than silence. */
export function retryLine(failure: HubFailure, attempt: number, attempts: number, delayMs: number, job: HubJob) {
  return (
    `${job.subject}: attempt ${attempt} of ${attempts} failed: ${describeFailure(failure)}; ` +
    `retrying in ${(delayMs / 1000).toFixed(1)} s`
  );
}

/**
 * Runs `attempt` until it succeeds, a failure is final, or the attempts are spent; each attempt gets a fresh
 * timed fetch. The last failure becomes a ConvertError naming the job's subject.
 */
export async function withRetries<T>(
  job: HubJob,
  hub: HubSettings,
  attempt: (fetch: typeof globalThis.fetch) => Promise<T>,
  sleep: (ms: number) => Promise<unknown> = Bun.sleep,
): Promise<T> {
  for (let n = 1; ; n++) {
    const transport = timedFetch(hub);
    try {
      return await attempt(transport.fetch);
    } catch (e) {
      const failure = failureOf(e, transport.lastFailure);
      if (!failure) throw e;
      if (!isTransient(failure) || n >= hub.attempts)
        throw new ConvertError(job.subject, finalMessage(failure, n, job, hub));
      const delay = retryDelayMs(n, hub.retryDelayMs, hub.random ?? Math.random);
      hub.log?.(retryLine(failure, n, hub.attempts, delay, job));
      await sleep(delay);
    }
  }
}
