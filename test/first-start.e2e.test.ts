/**
 * `bun run start` with an empty ENGINES_DIR (AUTO_CONVERT, the default): the service runs
 * `bun run convert` as a child process for the manifest's models, here from a local server that
 * speaks the Hub's URL scheme, then loads and answers. app/ never imports convert/.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { runServiceToExit, spawnService } from "../testkit/child.ts";
import { startFakeHub } from "../testkit/fake-hub.ts";
import { addTokenizer, tempDir } from "../testkit/fixtures.ts";
import { postProcess } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(120_000);

const COMMIT = "89abcdef0123456789abcdef0123456789abcdef";
const repo = tempDir("first-start-repo");
writeRandomCheckpoint(repo, { ...TINY.roberta, numLabels: 2 });
addTokenizer(repo, "roberta");
const hub = startFakeHub([{ id: "acme/tiny-news", commit: COMMIT, dir: repo, lfs: (p) => p.endsWith(".safetensors") }]);
afterAll(() => hub.stop());

describe("first start with no engines", () => {
  test("converts the manifest's models in a child process, logs JSON lines only, then serves them", async () => {
    const engines = tempDir("first-start-engines");
    const manifest = join(tempDir("first-start-manifest"), "models.json");
    writeFileSync(manifest, JSON.stringify({ models: [{ key: "news", hubId: "acme/tiny-news", revision: COMMIT }] }));
    const service = await spawnService({
      AUTO_CONVERT: "true",
      ENGINES_DIR: engines,
      MANIFEST: manifest,
      HF_ENDPOINT: hub.url,
      CONVERT_CACHE_DIR: tempDir("first-start-cache"),
      EXECUTION_PROVIDERS: "cpu",
    });
    try {
      // spawnService parses every stdout line as JSON: the child's progress lines went to stderr.
      expect(service.lines.map((l) => l.message)).toContain(
        "no engines yet: converting the manifest's models (first start)",
      );
      expect(existsSync(join(engines, "index.json"))).toBe(true);
      expect(hub.requests.some((r) => r.path.startsWith("/acme/tiny-news/resolve/"))).toBe(true);
      const res = await postProcess(service.url, JSON.stringify("a first text"));
      expect(res.status).toBe(200);
      const answer = await res.json();
      expect(Object.keys(answer)).toEqual(["news"]);
      expect(answer.news.label).toMatch(/^LABEL_[01]$/);
    } finally {
      service.proc.kill("SIGTERM");
      await service.proc.exited;
    }
  });

  test("without the Hub (nothing listening at HF_ENDPOINT), the start ends in one error line that says so, exit 1, nothing written", async () => {
    const engines = tempDir("no-hub-engines");
    const closed = Bun.serve({ port: 0, fetch: () => new Response() });
    const endpoint = `http://127.0.0.1:${closed.port}`;
    closed.stop(true); // a port nothing listens on any more: connections are refused, as with no route to the Hub
    const { code, lines, stderr } = await runServiceToExit({
      ENGINES_DIR: engines,
      AUTO_CONVERT: "true",
      HF_ENDPOINT: endpoint,
      HF_MAX_ATTEMPTS: "2",
      HF_RETRY_DELAY_MS: "10",
      CONVERT_CACHE_DIR: tempDir("no-hub-cache"),
    });
    expect(code).toBe(1);
    // The converter says why on stderr; the service's stdout is JSON lines, the last the failed start.
    expect(stderr).toContain("cannot reach the Hub");
    const failed = lines.filter((l) => l.message === "start-up failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: "error", stage: expect.any(String), fix: expect.any(String) });
    expect(readdirSync(engines).filter((f) => f !== "README.md")).toEqual([]);
  });

  test("SIGTERM while the first-start convert runs stops the convert child too", async () => {
    // A Hub that accepts connections and never answers: the convert child waits on it.
    const silent = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}) });
    const engines = tempDir("first-start-stopped");
    const manifest = join(tempDir("first-start-manifest"), "models.json");
    writeFileSync(manifest, JSON.stringify({ models: [{ key: "news", hubId: "acme/tiny-news", revision: COMMIT }] }));
    const env = { AUTO_CONVERT: "true", ENGINES_DIR: engines, MANIFEST: manifest, PORT: "0", HOST: "127.0.0.1" };
    const proc = Bun.spawn(["bun", join(import.meta.dir, "..", "app", "index.ts")], {
      env: { ...process.env, ...env, HF_ENDPOINT: `http://127.0.0.1:${silent.port}`, CONVERT_CACHE_DIR: tempDir("c") },
      stdout: "ignore",
      stderr: "ignore",
    });
    // The convert child is the process whose command line names this test's engines folder and convert/.
    const children = () => {
      const ps = Bun.spawnSync(["pgrep", "-f", `convert/index.ts --out ${engines}`])
        .stdout.toString()
        .trim();
      return ps ? ps.split("\n") : [];
    };
    try {
      await waitFor(() => children().length === 1, "the convert child to start", 30_000);
      proc.kill("SIGTERM");
      await proc.exited;
      await waitFor(() => children().length === 0, "the convert child to stop", 10_000);
      expect(existsSync(join(engines, "index.json"))).toBe(false);
    } finally {
      for (const pid of children()) process.kill(Number(pid), "SIGKILL");
      silent.stop(true);
    }
  });
});
