/**
 * Starts that fail, on the real entry (`bun app/index.ts` as a child process): each ends with the
 * README's exit code (2 for settings and for an engines folder with files but no index.json, else 1)
 * and one error-level JSON line (stage, error, the file to blame, the fix), never a
 * stack trace. And a port already taken is refused, not shared.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { convertModels } from "../convert/pipeline.ts";
import { TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { type LogLine, runServiceToExit, spawnService } from "../testkit/child.ts";
import { addTokenizer, tempDir, tinyEngines } from "../testkit/fixtures.ts";

// Real processes over a converted checkpoint: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;
let engines: string;

beforeAll(async () => {
  engines = await tinyEngines("roberta", "startup");
});

/** A copy of the converted engines, changed by `damage` (the shared ones stay intact for the other tests). */
function damagedEngines(damage: (dir: string) => void): string {
  const dir = join(tempDir("startup-damaged"), "engines");
  cpSync(engines, dir, { recursive: true });
  damage(dir);
  return dir;
}

/** The run ended with exit `code`, with exactly one error line (returned), and nothing that looks like a stack. */
function theFailure(run: Awaited<ReturnType<typeof runServiceToExit>>, code: 1 | 2): LogLine {
  expect(run.signalled).toBeNull(); // it stopped by itself, not by the test's time limit
  expect(run.code).toBe(code);
  const errors = run.lines.filter((l) => l.level === "error");
  expect(errors).toHaveLength(1);
  // Plain values: toMatchObject with asymmetric matchers writes the matchers into the received object (Bun 1.4.5).
  const [failure] = errors;
  expect([failure.message, typeof failure.error, typeof failure.fix]).toEqual(["start-up failed", "string", "string"]);
  expect(run.stderr).not.toMatch(STACK_FRAME);
  expect(JSON.stringify(run.lines)).not.toMatch(/\\n\s+at /);
  return failure;
}

describe("a port already taken", () => {
  let first: Awaited<ReturnType<typeof spawnService>> | undefined;
  afterAll(async () => {
    first?.proc.kill("SIGTERM");
    await first?.proc.exited;
  });

  test("a second instance on a taken port exits 1 with a line naming the port; the first keeps it", async () => {
    first = await spawnService({ ENGINES_DIR: engines, INTRA_OP_THREADS: "1" });
    const port = new URL(first.url).port;
    const second = await runServiceToExit({ ENGINES_DIR: engines, PORT: port }, 30_000);
    const failure = theFailure(second, 1);
    expect(failure).toMatchObject({ stage: "listen", error: `port ${port} on 127.0.0.1 is already in use` });
    expect(failure.fix).toContain("PORT");
    // Every connection still reaches the first instance: nothing was split off to the second.
    for (let i = 0; i < 5; i++) expect((await fetch(`${first.url}/health/ready`)).status).toBe(200);
  });
});

describe("start-up failures name the file and the fix", () => {
  test("an engines folder whose index.json is broken: exit 1, one error line naming index.json", async () => {
    const dir = damagedEngines((d) => writeFileSync(join(d, "index.json"), '{"models": ['));
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: dir }), 1);
    expect(failure).toMatchObject({ stage: "engines", file: join(dir, "index.json") });
    expect(failure.error).toContain("not valid JSON");
    expect(failure.fix).toContain(`bun run convert --out ${dir}`);
  });

  test("an engines folder without index.json (AUTO_CONVERT=false): exit 1, the file and how to make it", async () => {
    const dir = tempDir("startup-empty");
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: dir }), 1);
    expect(failure).toMatchObject({ stage: "engines", file: join(dir, "index.json") });
    expect(failure.fix).toContain("AUTO_CONVERT=true");
  });

  test("a model file that does not load: exit 1, one error line naming model.onnx", async () => {
    const dir = damagedEngines((d) => writeFileSync(join(d, "tiny", "model.onnx"), "not a model"));
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: dir }), 1);
    expect(failure).toMatchObject({ stage: "loading models", file: join(dir, "tiny", "model.onnx") });
    expect(failure.fix).toContain(`delete ${join(dir, "tiny")}`);
  });

  test("a model whose embedding rows are fewer than its tokenizer's ids: exit 1 at warm-up, naming the model and the largest id", async () => {
    // Convert refuses this pairing; the allowance stands in for an engines folder edited by hand.
    const src = join(tempDir("startup-short-vocab-src"), "short");
    writeRandomCheckpoint(src, { ...TINY.roberta, vocabSize: 1000, numLabels: 2 });
    addTokenizer(src, "roberta");
    const dir = tempDir("startup-short-vocab");
    await convertModels([{ key: "short", dir: src, origin: {}, allowVocabMismatch: true }], { outDir: dir });
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: dir, INTRA_OP_THREADS: "1" }), 1);
    expect(failure.stage).toBe("loading models");
    // RoBERTa's tokenizer: 50265 ids, the last <mask> (50264); the model has 1000 rows.
    expect(failure.error).toContain("model short cannot take its tokenizer's largest id 50264");
  });

  test("a HOST that is not an address of this machine: exit 1, one error line naming HOST", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): a valid address that no machine here has.
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: engines, HOST: "192.0.2.1" }), 1);
    expect(failure.stage).toBe("listen");
    expect(failure.error).toContain("HOST=192.0.2.1");
    expect(failure.fix).toContain("0.0.0.0");
  });

  test("an invalid setting: exit 2, one error line naming the variable", async () => {
    const failure = theFailure(await runServiceToExit({ ENGINES_DIR: engines, MAX_QUEUED_TEXTS: "1" }), 2);
    expect([failure.stage, failure.fix]).toEqual(["configuration", expect.stringContaining("MAX_QUEUED_TEXTS")]);
  });

  test("the first-start convert failing: exit 1, one error line saying where its reasons are", async () => {
    const run = await runServiceToExit({
      AUTO_CONVERT: "true",
      ENGINES_DIR: tempDir("startup-first"),
      MANIFEST: join(tempDir("startup-manifest"), "missing.json"),
    });
    const failure = theFailure(run, 1);
    expect([failure.stage, failure.fix]).toEqual(["first-start convert", expect.stringContaining("stderr")]);
    expect(run.stderr).toContain("missing.json"); // the convert's own reason, on stderr
  });

  test("an engines folder with files but no index.json, to be converted into (AUTO_CONVERT=true): exit 2, nothing converted", async () => {
    const dir = tempDir("startup-foreign");
    writeFileSync(join(dir, "notes.txt"), "someone else's folder");
    const failure = theFailure(await runServiceToExit({ AUTO_CONVERT: "true", ENGINES_DIR: dir }), 2);
    expect(failure.stage).toBe("engines");
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
  });
});
