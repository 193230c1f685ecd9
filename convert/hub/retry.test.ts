import { describe, expect, test } from "bun:test";
import { HubApiError } from "@huggingface/hub";
import { ConvertError } from "../errors.ts";
import {
  MAX_RETRY_DELAY_MS,
  failureOf,
  finalMessage,
  isTransient,
  retryDelayMs,
  retryLine,
  withRetries,
  type HubJob,
} from "./retry.ts";
import { HUB_DEFAULTS, type HubSettings } from "./settings.ts";
import { HubRequestError, type HubFailure } from "./transport.ts";

const status = (s: number, detail = ""): HubFailure => ({ kind: "status", status: s, detail });
const FILE: HubJob = { subject: "acme/x/model.safetensors", action: "download failed", target: "file" };
const REPO: HubJob = { subject: "https://hub/acme/x@main", action: "cannot list the repository", target: "repository" };
const HUB = { endpoint: "https://hub.example" };

describe("retry decision", () => {
  test("timeouts, lost connections, 408, 429 and 5xx are retried; other answers are final", () => {
    expect(isTransient({ kind: "timeout", phase: "connect", ms: 1 })).toBe(true);
    expect(isTransient({ kind: "timeout", phase: "read", ms: 1 })).toBe(true);
    expect(isTransient({ kind: "network", detail: "ECONNRESET" })).toBe(true);
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isTransient(status(s))).toBe(true);
    for (const s of [400, 401, 403, 404, 410, 416]) expect(isTransient(status(s))).toBe(false);
  });

  test("the failure behind an error: ours, the Hub client's status, a string the client made of it, or none", () => {
    const timeout: HubFailure = { kind: "timeout", phase: "read", ms: 5 };
    expect(failureOf(new HubRequestError(timeout))).toEqual(timeout);
    const api = new HubApiError("https://hub/x", 503);
    api.message = "Service busy. URL: https://hub/x";
    expect(failureOf(api)).toEqual(status(503, "Service busy"));
    api.data = { error: "Repository not found" };
    expect(failureOf(api)).toEqual(status(503, "Repository not found"));
    // @huggingface/hub aborts a Blob's stream with the error's message: what the fetch saw says what it was.
    expect(failureOf("read timeout after 5 ms", timeout)).toEqual(timeout);
    expect(failureOf("socket closed")).toEqual({ kind: "network", detail: "socket closed" });
    expect(failureOf(new ConvertError("f", "checksum mismatch"), timeout)).toBeNull();
    expect(failureOf(new TypeError("a bug"))).toBeNull();
  });

  test("back-off doubles from the first delay, jittered between half and all of it, capped", () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelayMs(2, 1000, () => 0.5)).toBe(1500);
    expect(retryDelayMs(20, 1000, () => 1)).toBe(MAX_RETRY_DELAY_MS);
    expect(retryDelayMs(3, 0, () => 1)).toBe(0);
  });
});

describe("messages", () => {
  test("the final error says what failed, how often it was tried and what to check", () => {
    expect(finalMessage({ kind: "timeout", phase: "connect", ms: 10000 }, 4, REPO, HUB)).toBe(
      "cannot list the repository after 4 attempts: no answer within 10000 ms (HF_CONNECT_TIMEOUT_MS); " +
        "check HF_ENDPOINT (https://hub.example) and the network (proxy, firewall, DNS)",
    );
    expect(finalMessage({ kind: "timeout", phase: "read", ms: 30000 }, 4, FILE, HUB)).toBe(
      "download failed after 4 attempts: no bytes for 30000 ms (HF_READ_TIMEOUT_MS); " +
        "check HF_ENDPOINT (https://hub.example) and the network (proxy, firewall, DNS), " +
        "or raise HF_READ_TIMEOUT_MS on a slow link",
    );
    expect(finalMessage(status(503, "busy"), 4, FILE, HUB)).toBe(
      "download failed after 4 attempts: the Hub answered 503 (busy); " +
        "the Hub at HF_ENDPOINT (https://hub.example) is overloaded or failing: try again later",
    );
  });

  test("a 404 or 401 says why: a missing repository or file, or a token needed or refused", () => {
    expect(finalMessage(status(404), 1, REPO, HUB)).toMatch(
      /^cannot list the repository: the Hub answered 404; no such/,
    );
    expect(finalMessage(status(404), 1, FILE, HUB)).toContain("lists this file but HF_ENDPOINT");
    expect(finalMessage(status(401), 1, REPO, HUB)).toContain("set HF_TOKEN to a token with access");
    expect(finalMessage(status(401), 1, REPO, { ...HUB, token: "hf_x" })).toContain("HF_TOKEN was refused");
    expect(finalMessage(status(403), 1, REPO, HUB)).toContain("HF_TOKEN has no access");
  });

  test("a retry line names the subject, the attempt, the failure and the wait", () => {
    expect(retryLine({ kind: "network", detail: "ECONNRESET" }, 1, 4, 1234, FILE)).toBe(
      "acme/x/model.safetensors: attempt 1 of 4 failed: cannot reach the Hub (ECONNRESET); retrying in 1.2 s",
    );
  });
});

describe("withRetries", () => {
  const hub = (log: string[]): HubSettings => ({
    ...HUB_DEFAULTS,
    endpoint: "https://hub.example",
    cacheDir: "/nowhere",
    progress: false,
    attempts: 3,
    random: () => 0,
    log: (l) => log.push(l),
  });

  test("retries transient failures with the back-off's waits, then returns the result", async () => {
    const waits: number[] = [];
    const log: string[] = [];
    let calls = 0;
    const result = await withRetries(
      FILE,
      hub(log),
      async () => {
        if (++calls < 3) throw new HubRequestError(status(503));
        return "ok";
      },
      async (ms) => waits.push(ms),
    );
    expect(result).toBe("ok");
    expect(waits).toEqual([500, 1000]);
    expect(log).toHaveLength(2);
  });

  /** An attempt that always fails so, counting how often it ran. */
  const alwaysFailing = (failure: HubFailure) => {
    const runs = { count: 0 };
    const attempt = async () => {
      runs.count++;
      throw new HubRequestError(failure);
    };
    return { runs, attempt };
  };
  const noWait = async () => {};

  test("gives up after the last attempt with a ConvertError naming the subject", async () => {
    const { runs, attempt } = alwaysFailing({ kind: "timeout", phase: "connect", ms: 7 });
    await expect(withRetries(FILE, hub([]), attempt, noWait)).rejects.toThrow(
      /^acme\/x\/model\.safetensors: download failed after 3 attempts: no answer within 7 ms/,
    );
    expect(runs.count).toBe(3);
  });

  test("a final failure is not retried, and an error that is not the Hub's passes through as it is", async () => {
    const { runs, attempt } = alwaysFailing(status(404));
    await expect(withRetries(REPO, hub([]), attempt, noWait)).rejects.toBeInstanceOf(ConvertError);
    expect(runs.count).toBe(1);
    const bug = new TypeError("a bug");
    await expect(withRetries(REPO, hub([]), () => Promise.reject(bug), noWait)).rejects.toBe(bug);
  });
});
