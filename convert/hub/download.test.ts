import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startFakeHub } from "../../testkit/fake-hub.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { main } from "../cli.ts";
import { readModelRecord } from "../../lib/store/index.ts";
import { TINY, writeRandomCheckpoint } from "../random/random-checkpoint.ts";
import { downloadRepo } from "./download.ts";
import { HUB_DEFAULTS, type HubSettings } from "./settings.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const repoDir = tempDir("hub-repo");
writeRandomCheckpoint(repoDir, { ...TINY.roberta, numLabels: 2 });
addTokenizer(repoDir, "roberta");
const binRepo = tempDir("hub-bin");
for (const f of ["config.json", "pytorch_model.bin"])
  writeFileSync(join(binRepo, f), readFileSync(join(ORACLE, "roberta-tiny-bin", f)));
addTokenizer(binRepo, "roberta");

const hub = startFakeHub([
  {
    id: "acme/fake-news",
    commit: COMMIT,
    dir: repoDir,
    lfs: (p) => p.endsWith(".safetensors") || p === "tokenizer.json",
  },
  { id: "acme/bin-only", commit: COMMIT, dir: binRepo, lfs: (p) => p.endsWith(".bin") },
]);
afterAll(() => hub.stop());
const settings = (cacheDir = tempDir("hub-cache"), token?: string): HubSettings => ({
  ...HUB_DEFAULTS,
  endpoint: hub.url,
  cacheDir,
  progress: false,
  token,
});

describe("Hub download (against a local server speaking the Hub's URL scheme)", () => {
  test("downloads config, weights and tokenizer files at the resolved commit, verified", async () => {
    const repo = await downloadRepo("acme/fake-news", "main", settings());
    expect(repo.commit).toBe(COMMIT);
    expect(repo.dir.endsWith(join("acme", "fake-news", COMMIT))).toBe(true);
    expect(repo.files).toEqual(
      expect.arrayContaining(["config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"]),
    );
    expect(
      readFileSync(join(repo.dir, "model.safetensors")).equals(readFileSync(join(repoDir, "model.safetensors"))),
    ).toBe(true);
  });

  test("prefers model.safetensors and falls back to pytorch_model.bin", async () => {
    const a = await downloadRepo("acme/fake-news", "main", settings());
    expect(a.files).toContain("model.safetensors");
    const b = await downloadRepo("acme/bin-only", COMMIT, settings());
    expect(b.files).toContain("pytorch_model.bin");
    expect(b.files).not.toContain("model.safetensors");
  });

  test("HF_TOKEN is sent as a bearer token on every request", async () => {
    const before = hub.requests.length;
    await downloadRepo("acme/fake-news", "main", settings(tempDir("c"), "hf_secret"));
    const mine = hub.requests.slice(before);
    expect(mine.length).toBeGreaterThan(3);
    expect(mine.every((r) => r.auth === "Bearer hf_secret")).toBe(true);
  });

  test("a partial download is resumed from where it stopped (Range request), then verified", async () => {
    const cache = tempDir("resume");
    const target = join(cache, "acme", "fake-news", COMMIT, "model.safetensors");
    mkdirSync(join(target, ".."), { recursive: true });
    const whole = readFileSync(join(repoDir, "model.safetensors"));
    const half = Math.floor(whole.length / 2);
    writeFileSync(`${target}.incomplete`, whole.subarray(0, half));
    const before = hub.requests.length;
    await downloadRepo("acme/fake-news", "main", settings(cache));
    const weightGets = hub.requests
      .slice(before)
      .filter((r) => r.path.endsWith("/model.safetensors") && r.range !== "bytes=0-0");
    expect(weightGets.map((r) => r.range)).toEqual([`bytes=${half}-${whole.length - 1}`]);
    expect(readFileSync(target).equals(whole)).toBe(true);
    expect(existsSync(`${target}.incomplete`)).toBe(false);
  });

  test("a file whose bytes do not match the Hub's checksum is rejected and not kept", async () => {
    const cache = tempDir("corrupt");
    hub.corrupt.add("model.safetensors");
    try {
      await expect(downloadRepo("acme/fake-news", "main", settings(cache))).rejects.toThrow(
        /model\.safetensors: checksum mismatch: sha256/,
      );
    } finally {
      hub.corrupt.delete("model.safetensors");
    }
    const dir = join(cache, "acme", "fake-news", COMMIT);
    expect(existsSync(join(dir, "model.safetensors"))).toBe(false);
    expect(existsSync(join(dir, "model.safetensors.incomplete"))).toBe(false);
  });

  test("an unknown repository is a clear error", async () => {
    await expect(downloadRepo("acme/missing", "main", settings())).rejects.toThrow(
      /acme\/missing@main: cannot list the repository/,
    );
  });

  test("bun run convert --model KEY=org/name@rev with HF_ENDPOINT downloads and converts", async () => {
    const out = tempDir("engines");
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, CONVERT_CACHE_DIR: process.env.CONVERT_CACHE_DIR };
    process.env.HF_ENDPOINT = hub.url;
    process.env.CONVERT_CACHE_DIR = tempDir("cli-cache");
    try {
      expect(await main(["--model", `jy46604790=acme/fake-news@${COMMIT}`, "--out", out])).toBe(0);
    } finally {
      Object.assign(process.env, env);
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
    }
    const info = readModelRecord(join(out, "jy46604790"))!;
    expect(info.source).toEqual({ hubId: "acme/fake-news", revision: COMMIT, commit: COMMIT });
    expect(info.labels).toEqual(["LABEL_0", "LABEL_1"]);
    expect(statSync(join(out, "jy46604790", "model.onnx.data")).size).toBeGreaterThan(0);
  });
});
