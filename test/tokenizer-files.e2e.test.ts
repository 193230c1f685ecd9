/**
 * A tokenizer.json in the engines folder is checked at start, on the real entry (`bun app/index.ts`
 * as a child process): a swapped, edited, invalid or hostile one (a regex that would abort the
 * process on a 25-byte text) fails the start with one error line naming the file, never a crash
 * (exit 134) on the first request. The intact store starts and tokenizes that text.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readModelRecord, readStore, writeModelRecord } from "../lib/store/index.ts";
import { definitionHash } from "../lib/tokenizer/definition.ts";
import { runServiceToExit, type ServiceProcess, spawnService } from "../testkit/child.ts";
import { tempDir, tinyEngines } from "../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";
import { addBacktrackingRegex, BACKTRACKING_REGEX, BACKTRACKING_TEXT } from "../testkit/hostile-tokenizer.ts";

// Real processes over a converted XLM-R-shaped checkpoint (a 250k-piece tokenizer) on a 2-core machine.
setDefaultTimeout(90_000);

let engines: string;

beforeAll(async () => {
  engines = await tinyEngines("xlmr", "tokenizer-files");
});

/** A copy of the converted engines with its family's tokenizer.json changed by `change`; returns the copy and that file. */
function withTokenizerFile(change: (file: string, dir: string) => void): { dir: string; file: string } {
  const dir = join(tempDir("tokenizer-files-copy"), "engines");
  cpSync(engines, dir, { recursive: true });
  const [family] = readStore(dir).families;
  const file = join(family.dir, "tokenizer.json");
  change(file, dir);
  return { dir, file };
}

/** The start failed by itself (not by a signal: no abort), with one error line naming `file`; returns that line's error. */
async function refusedNaming(dir: string, file: string): Promise<string> {
  const run = await runServiceToExit({ ENGINES_DIR: dir }, 60_000);
  expect(run.signalled).toBeNull();
  expect(run.code).toBe(1);
  const errors = run.lines.filter((l) => l.level === "error");
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ message: "start-up failed", stage: "engines", file });
  expect(errors[0].fix).toContain(`bun run convert --out ${dir}`);
  return errors[0].error as string;
}

describe("a tokenizer.json that is not the one converted fails the start, naming the file", () => {
  test("RoBERTa's tokenizer.json swapped in for XLM-R's", async () => {
    const { dir, file } = withTokenizerFile((f) => {
      rmSync(f);
      cpSync(join(TOKENIZER_FIXTURES, "roberta-base", "tokenizer.json"), f);
    });
    expect(await refusedNaming(dir, file)).toContain("tiny's engine.json records");
  });

  test("an edit to one piece's score", async () => {
    const { dir, file } = withTokenizerFile((f) => {
      const text = readFileSync(f, "utf8");
      const edited = text.replace(/\["▁the",\s*-?[\d.]+\]/, '["▁the", -1.0]');
      expect(edited).not.toBe(text);
      rmSync(f);
      writeFileSync(f, edited);
    });
    expect(await refusedNaming(dir, file)).toContain("edited or replaced after conversion");
  });

  test("a tokenizer.json that is not valid JSON", async () => {
    const { dir, file } = withTokenizerFile((f) => writeFileSync(f, '{"model": {'));
    expect(await refusedNaming(dir, file)).toContain("not valid JSON");
  });
});

describe("a hand-placed tokenizer.json whose regex would abort the process does not crash the service", () => {
  test("refused at start as not the converted file", async () => {
    const { dir, file } = withTokenizerFile((f) => addBacktrackingRegex(f, "pre_tokenizer"));
    expect(await refusedNaming(dir, file)).toContain("edited or replaced after conversion");
  });

  test("refused at start for its regex even when engine.json records its hash (a store converted before the check)", async () => {
    const { dir, file } = withTokenizerFile((f, d) => {
      addBacktrackingRegex(f, "pre_tokenizer");
      const record = readModelRecord(join(d, "tiny"));
      if (!record) throw new Error("the copy has no engine.json for tiny");
      writeModelRecord(join(d, "tiny"), {
        ...record,
        tokenizer: { ...record.tokenizer, definitionSha256: definitionHash(f) },
      });
    });
    const error = await refusedNaming(dir, file);
    expect(error).toContain(`has the regex "${BACKTRACKING_REGEX}"`);
  });
});

describe("the intact store", () => {
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    await service?.stop();
  });

  test("starts, and tokenizes the text that aborts a backtracking tokenizer", async () => {
    service = await spawnService({ ENGINES_DIR: engines, INTRA_OP_THREADS: "1" });
    const res = await fetch(`${service.url}/tokenize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([BACKTRACKING_TEXT]),
    });
    expect(res.status).toBe(200);
  });
});
