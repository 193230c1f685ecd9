import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerFileError } from "../lib/tokenizer/definition.ts";
import { tempDir } from "../testkit/fixtures.ts";
import { rssOf } from "../testkit/proc.ts";
import { addBacktrackingRegex, BACKTRACKING_TEXT } from "../testkit/hostile-tokenizer.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";
import { waitFor } from "../testkit/wait.ts";
import { FamilyTokenizer } from "../app/tokenize/family-tokenizer.ts";
import { TokenizationFailed, TokenizerPool, type TokenizerPoolOptions } from "../app/tokenize/tokenizer-pool.ts";
import type { FamilyEncodings } from "../app/tokenize/tokenizer-protocol.ts";

const UNCHECKED = { file: new URL("../testkit/unchecked-tokenizer-process.ts", import.meta.url).pathname };
const fixture = (name: string) => ({ id: name, dir: join(TOKENIZER_FIXTURES, name), maxLength: 512 });
const options = (o: Partial<TokenizerPoolOptions> = {}): TokenizerPoolOptions => ({
  processes: 1,
  recycleAboveRss: 100,
  restartDelayMs: () => 10,
  ...o,
});
const rows = (e: FamilyEncodings) => {
  const starts = e.lengths.map((_, i) => e.lengths.slice(0, i).reduce((a, b) => a + b, 0));
  return e.lengths.map((n, i) => Array.from(e.ids.subarray(starts[i], starts[i] + n)));
};
const open = () => new AbortController().signal;

const pools: TokenizerPool[] = [];
async function startPool(...args: Parameters<typeof TokenizerPool.start>) {
  const pool = await TokenizerPool.start(...args);
  pools.push(pool);
  return pool;
}
afterEach(() => {
  for (const p of pools.splice(0)) p.stop();
});

/** A copy of a fixture tokenizer with a backtracking regex in its pre-tokenizer: it panics on BACKTRACKING_TEXT. */
function backtrackingFamily() {
  const dir = join(tempDir("hostile"), "roberta");
  cpSync(join(TOKENIZER_FIXTURES, "roberta-base"), dir, { recursive: true });
  addBacktrackingRegex(join(dir, "tokenizer.json"), "pre_tokenizer");
  return { id: "hostile", dir, maxLength: 512 };
}

describe("TokenizerPool: tokenization in processes of its own", () => {
  test("every family's ids and special tokens are those of the tokenizer loaded in this process", async () => {
    const pool = await startPool([fixture("roberta-base"), fixture("xlmr-charsmap")], options({ processes: 2 }));
    const texts = ["Hello world!", "  spaced  out ", "😀 emoji and ünïcödé", "a".repeat(3000)];
    const out = await pool.encode(texts, open(), true);
    for (const name of ["roberta-base", "xlmr-charsmap"]) {
      const local = await FamilyTokenizer.load(name, join(TOKENIZER_FIXTURES, name), 512);
      expect(rows(out[name])).toEqual(await Promise.all(texts.map(async (t) => Array.from(await local.encode(t)))));
      expect(out[name].tokens?.[0]).toEqual(local.tokenStrings(await local.encode(texts[0])));
      const info = pool.families.find((f) => f.id === name);
      expect(info).toEqual(local.info());
    }
    expect(rows(out["roberta-base"])[3].length).toBe(512); // cut to the family's maxLength, </s> kept
  }, 30_000);

  test("a tokenizer that panics costs its request and a restart of its process, never the caller's process", async () => {
    const pool = await startPool([backtrackingFamily()], options({ entry: UNCHECKED }));
    const failed = pool.encode([BACKTRACKING_TEXT], open());
    await expect(failed).rejects.toBeInstanceOf(TokenizationFailed);
    await expect(failed).rejects.toThrow(/SIGABRT/);
    // The next job waits for the process started in its place and is answered.
    const out = await pool.encode(["ordinary text"], open());
    expect(rows(out.hostile)[0].length).toBeGreaterThan(2);
    expect(pool.stats.crashes).toBe(1);
    expect(pool.stats.processes).toBe(1);
  }, 30_000);

  test("the service's own entry refuses that tokenizer at load, naming its file, and leaves nothing running", async () => {
    const family = backtrackingFamily();
    const start = TokenizerPool.start([family], options());
    await expect(start).rejects.toBeInstanceOf(TokenizerFileError);
    await expect(start).rejects.toThrow(join(family.dir, "tokenizer.json"));
  }, 30_000);

  test("a job whose request ends while it waits for a process is dropped unencoded, its caller answered at once", async () => {
    const pool = await startPool([fixture("xlmr-charsmap")], options());
    const busy = pool.encode(["word ".repeat(200_000)], open()); // about a second of encoding
    const leaving = new AbortController();
    const dropped = pool.encode(["never encoded"], leaving.signal);
    leaving.abort(new Error("client gone"));
    await expect(dropped).rejects.toThrow("client gone");
    expect(pool.stats).toMatchObject({ queuedJobs: 0, runningJobs: 1, droppedBeforeStart: 1 });
    await busy;
    expect(pool.stats.runningJobs).toBe(0);
    expect(pool.expectedWaitMs(1_000_000)).toBeGreaterThan(100); // measured: a million characters is not free
  }, 30_000);

  test("a job whose request ends while it runs is answered at once; the process finishes it and takes the next", async () => {
    const pool = await startPool([fixture("xlmr-charsmap")], options());
    const leaving = new AbortController();
    const running = pool.encode(["word ".repeat(200_000)], leaving.signal); // about a second of encoding
    await Bun.sleep(20);
    const left = performance.now();
    leaving.abort(new Error("client gone"));
    await expect(running).rejects.toThrow("client gone");
    expect(performance.now() - left).toBeLessThan(100);
    expect(pool.stats.runningJobs).toBe(1); // still encoding, its result to be thrown away
    const next = await pool.encode(["next"], open());
    expect(rows(next["xlmr-charsmap"])[0].length).toBeGreaterThan(2);
    expect(pool.stats.droppedBeforeStart).toBe(0);
  }, 30_000);

  test("a process whose memory grew past the bound is replaced after its job; the pool keeps answering", async () => {
    const pool = await startPool([fixture("roberta-base")], options({ recycleAboveRss: 1.01 }));
    const memory = () => pool.pids.reduce((n, pid) => n + rssOf(pid), 0);
    const before = memory();
    await pool.encode(["word ".repeat(200_000)], open());
    expect(pool.stats.recycled).toBe(1);
    const out = await pool.encode(["after"], open());
    const vocab = JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, "roberta-base", "tokenizer.json"), "utf8")).model
      .vocab;
    expect(rows(out["roberta-base"])[0]).toEqual([0, vocab.after, 2]);
    expect(memory()).toBeLessThan(before * 1.5);
  }, 30_000);

  test("a process killed while idle: at most the job sent to it fails (tokenization_failed), the others are answered, another process starts", async () => {
    const pool = await startPool([fixture("roberta-base")], options());
    process.kill(pool.pids[0], "SIGKILL");
    const jobs = await Promise.allSettled(["one", "two", "three"].map((t) => pool.encode([t], open())));
    const failed = jobs.filter((j) => j.status === "rejected");
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const f of failed) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(TokenizationFailed);
    expect(jobs.filter((j) => j.status === "fulfilled").length).toBeGreaterThanOrEqual(2);
    expect(pool.stats).toMatchObject({ processes: 1, crashes: 1 });
  }, 30_000);

  test("a process is not started again from files changed since the start: the pool stays without it, and says so", async () => {
    let filesChanged = false;
    const logged: string[] = [];
    const pool = await startPool(
      [fixture("roberta-base")],
      options({
        verifyFiles: () => {
          if (filesChanged) throw new Error("tokenizer.json: edited after conversion");
        },
        log: (m, f) => logged.push(`${m} ${JSON.stringify(f)}`),
      }),
    );
    filesChanged = true;
    process.kill(pool.pids[0], "SIGKILL");
    await waitFor(() => logged.some((l) => l.includes("edited after conversion")), "the refused restart logged");
    expect(pool.stats.processes).toBe(0);
    // Jobs wait (their deadline bounds them) rather than run on an unproven tokenizer.
    const waiting = new AbortController();
    const job = pool.encode(["text"], waiting.signal);
    waiting.abort(new Error("deadline"));
    await expect(job).rejects.toThrow("deadline");
  }, 30_000);

  test("stop(): queued jobs are rejected, later ones refused, nothing is started again", async () => {
    const pool = await startPool([fixture("xlmr-charsmap")], options());
    const running = pool.encode(["word ".repeat(200_000)], open());
    const queued = pool.encode(["queued"], open());
    pool.stop();
    await expect(queued).rejects.toThrow("stopped");
    await expect(running).rejects.toBeInstanceOf(TokenizationFailed); // its process was killed under it
    await expect(pool.encode(["later"], open())).rejects.toThrow("stopped");
    await Bun.sleep(100);
    expect(pool.stats.processes).toBe(0);
  }, 30_000);
});
