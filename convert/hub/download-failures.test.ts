import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeHub } from "../../testkit/fake-hub.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { sha256 } from "../hash.ts";
import { TINY, writeRandomCheckpoint } from "../random/random-checkpoint.ts";
import { downloadRepo } from "./download.ts";
import { HUB_DEFAULTS, type HubSettings } from "./settings.ts";

const COMMIT = "89abcdef0123456789abcdef0123456789abcdef";
const repoDir = tempDir("hub-faults-repo");
writeRandomCheckpoint(repoDir, { ...TINY.roberta, numLabels: 2 });
addTokenizer(repoDir, "roberta");
const WEIGHTS = readFileSync(join(repoDir, "model.safetensors"));

const hub = startFakeHub([{ id: "acme/flaky", commit: COMMIT, dir: repoDir, lfs: (p) => p.endsWith(".safetensors") }]);
afterAll(() => hub.stop());
afterEach(() => hub.faults.splice(0));

// Small timeouts and back-off keep these tests fast; the jitter is fixed so delays are known.
const TIMEOUT_MS = 200;
const settings = (log: string[] = [], over: Partial<HubSettings> = {}): HubSettings => ({
  ...HUB_DEFAULTS,
  endpoint: hub.url,
  cacheDir: tempDir("hub-faults-cache"),
  progress: false,
  connectTimeoutMs: TIMEOUT_MS,
  readTimeoutMs: TIMEOUT_MS,
  attempts: 3,
  retryDelayMs: 10,
  random: () => 1,
  log: (line) => log.push(line),
  ...over,
});
const requestsSince = (before: number, path: string) =>
  hub.requests.slice(before).filter((r) => r.path.endsWith(path) && r.range !== "bytes=0-0");

describe("Hub downloads that cannot hang (a local Hub that misbehaves)", () => {
  test("a Hub that never answers fails within timeout × attempts, saying what and what to check", async () => {
    hub.faults.push({ fault: { kind: "hang" } });
    const log: string[] = [];
    const started = performance.now();
    const error = await downloadRepo("acme/flaky", "main", settings(log)).catch((e: Error) => e);
    const elapsed = performance.now() - started;
    expect(String(error)).toContain(
      `${hub.url}/acme/flaky@main: cannot list the repository after 3 attempts: ` +
        `no answer within ${TIMEOUT_MS} ms (HF_CONNECT_TIMEOUT_MS); check HF_ENDPOINT (${hub.url}) and the network`,
    );
    // 3 attempts × 200 ms, plus back-off of 10 and 20 ms; a hang is unbounded, so seconds of slack
    // (a shared 2-core box can stall a timer that long) still tell the two apart.
    expect(elapsed).toBeGreaterThanOrEqual(3 * TIMEOUT_MS);
    expect(elapsed).toBeLessThan(3 * TIMEOUT_MS + 30 + 5000);
    expect(log.filter((l) => l.includes("failed: no answer within 200 ms"))).toEqual([
      expect.stringContaining("attempt 1 of 3 failed"),
      expect.stringContaining("attempt 2 of 3 failed"),
    ]);
  }, 20_000);

  test("a body that stalls mid-file hits the read timeout; the retry resumes with a Range request", async () => {
    const half = WEIGHTS.length >> 1;
    hub.faults.push({ fault: { kind: "stall", afterBytes: half }, path: "/model.safetensors", times: 1 });
    const log: string[] = [];
    const before = hub.requests.length;
    const repo = await downloadRepo("acme/flaky", "main", settings(log));
    expect(requestsSince(before, "/model.safetensors").map((r) => r.range)).toEqual([
      null,
      `bytes=${half}-${WEIGHTS.length - 1}`,
    ]);
    expect(sha256(readFileSync(join(repo.dir, "model.safetensors")))).toBe(sha256(WEIGHTS));
    expect(existsSync(join(repo.dir, "model.safetensors.incomplete"))).toBe(false);
    expect(log).toContainEqual(
      expect.stringContaining(
        "acme/flaky/model.safetensors: attempt 1 of 3 failed: no bytes for 200 ms (HF_READ_TIMEOUT_MS)",
      ),
    );
  });

  test("503 twice, then an answer: the download succeeds on the third attempt", async () => {
    hub.faults.push({ fault: { kind: "status", status: 503 }, path: "/model.safetensors", times: 2 });
    hub.faults.push({ fault: { kind: "status", status: 503 }, path: "/revision/", times: 2 });
    const log: string[] = [];
    const before = hub.requests.length;
    const repo = await downloadRepo("acme/flaky", "main", settings(log));
    expect(hub.requests.slice(before).filter((r) => r.path.includes("/revision/")).length).toBe(3);
    expect(sha256(readFileSync(join(repo.dir, "model.safetensors")))).toBe(sha256(WEIGHTS));
    expect(log.filter((l) => l.includes("the Hub answered 503"))).toHaveLength(4);
  });

  test("a 404 for a listed file is final at once and names the file", async () => {
    hub.faults.push({ fault: { kind: "status", status: 404 }, path: "/model.safetensors" });
    const log: string[] = [];
    const before = hub.requests.length;
    const error = await downloadRepo("acme/flaky", "main", settings(log)).catch((e: Error) => e);
    expect(String(error)).toContain(
      "acme/flaky/model.safetensors: download failed: the Hub answered 404 (fault 404); " +
        `the repository lists this file but HF_ENDPOINT (${hub.url}) does not serve it`,
    );
    expect(hub.requests.slice(before).filter((r) => r.path.endsWith("/model.safetensors"))).toHaveLength(1);
    expect(log.some((l) => l.includes("retrying"))).toBe(false);
  });

  test("a 401 is final and asks for HF_TOKEN", async () => {
    hub.faults.push({ fault: { kind: "status", status: 401 }, path: "/revision/" });
    const error = await downloadRepo("acme/flaky", "main", settings()).catch((e: Error) => e);
    expect(String(error)).toContain(
      "acme/flaky@main: cannot list the repository: the Hub answered 401 (fault 401); " +
        "the repository is private or gated: set HF_TOKEN",
    );
  });

  test("off a terminal, a progress line (file, bytes so far / total, rate) is logged every few seconds", async () => {
    // ~20 chunks 15 ms apart: about 300 ms of download, lines every 50 ms.
    const chunkBytes = Math.ceil(WEIGHTS.length / 20);
    hub.faults.push({ fault: { kind: "drip", chunkBytes, everyMs: 15 }, path: "/model.safetensors" });
    const log: string[] = [];
    await downloadRepo("acme/flaky", "main", settings(log, { progressEveryMs: 50 }));
    const lines = log.filter((l) => l.startsWith("acme/flaky/model.safetensors: "));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const total = `${(WEIGHTS.length / 1e6).toFixed(1)} MB`;
    for (const line of lines)
      expect(line).toMatch(new RegExp(`: [\\d.]+ k?M?B / ${total} \\(\\d+%\\), [\\d.]+ k?M?B/s$`));
    expect(lines.some((l) => !l.endsWith(" 0 B/s"))).toBe(true);
  });
});

const CLI = join(import.meta.dir, "..", "index.ts");

describe("bun convert/index.ts against a Hub that never answers", () => {
  test("exits 1 promptly with the reason, the timeouts being the ones set in its environment", async () => {
    hub.faults.push({ fault: { kind: "hang" } });
    const started = performance.now();
    const proc = Bun.spawn(
      [process.execPath, CLI, "--model", `k=acme/flaky@${COMMIT}`, "--out", tempDir("cli-faults-out")],
      {
        env: {
          ...process.env,
          HF_ENDPOINT: hub.url,
          HF_CONNECT_TIMEOUT_MS: "200",
          HF_READ_TIMEOUT_MS: "200",
          HF_MAX_ATTEMPTS: "2",
          HF_RETRY_DELAY_MS: "10",
          CONVERT_CACHE_DIR: tempDir("cli-faults-cache"),
        },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      `convert failed: ${hub.url}/acme/flaky@${COMMIT}: cannot list the repository after 2 attempts: ` +
        "no answer within 200 ms (HF_CONNECT_TIMEOUT_MS); check HF_ENDPOINT",
    );
    expect(stderr).toContain("attempt 1 of 2 failed");
    // Bun's start-up and the manifest's load, plus 2 × 200 ms.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test("a malformed timeout is a clear error naming the variable", async () => {
    const proc = Bun.spawn([process.execPath, CLI, "--model", "k=acme/flaky", "--out", tempDir("cli-faults-out")], {
      env: { ...process.env, HF_ENDPOINT: hub.url, HF_READ_TIMEOUT_MS: "30s" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stderr).toContain('convert failed: HF_READ_TIMEOUT_MS: expected an integer from 1 to 3600000, got "30s"');
  });
});
