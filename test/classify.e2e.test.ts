/**
 * `bun run classify` (app/batch) as a person runs it: a child process over tiny random models with
 * their real tokenizers, files in and out in JSONL, CSV and Parquet. Its answers are compared with
 * those of a real listening service on the same engines (POST /process), its bad rows with the errors
 * file, its shards with the whole input, and a run killed with SIGKILL several times with a clean run.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { convertModels } from "../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { startTestServer, type TestServer } from "../testkit/server.ts";

setDefaultTimeout(180_000);

const ROOT = join(import.meta.dir, "..");
const KEYS = ["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii", "jy46604790"];
const engines = tempDir("classify-engines");
const work = tempDir("classify-files");
let server: TestServer;
let duck: Awaited<ReturnType<DuckDBInstance["connect"]>>;

type Row = Record<string, unknown>;
type ModelAnswer = { label: string; score: number };

/** Texts of many lengths and scripts, the empty one included. */
function texts(n: number): string[] {
  const words = ["good", "bad", "bitcoin 🚀", "très bien", "Купить", "草泥马", "مرحبا", "free money!!!", "ok"];
  return Array.from({ length: n }, (_, i) =>
    i === 7 ? "" : Array.from({ length: 1 + ((i * 7) % 23) }, (_, w) => words[(i + w) % words.length]).join(" "),
  );
}

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  server = await startTestServer(engines);
  duck = await (await DuckDBInstance.create(":memory:")).connect();
});
afterAll(async () => {
  await server?.stop();
  duck?.closeSync();
});

interface Ran {
  code: number;
  lines: Row[];
}

/** The CLI as a child, with the service's settings from `env`; its exit code and JSON log lines. */
async function classify(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  const proc = Bun.spawn([process.execPath, "app/batch/index.ts", ...argv], {
    cwd: ROOT,
    env: { ...process.env, ENGINES_DIR: engines, INTRA_OP_THREADS: "1", LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const lines = stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);
  if (code !== 0 && code !== 3) console.error(stdout, stderr);
  return { code, lines };
}

function writeJsonl(name: string, rows: Row[]): string {
  const path = join(work, name);
  writeFileSync(path, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return path;
}

/** The same rows in another format, written by DuckDB from a JSON-lines file. */
async function convertTable(jsonl: string, to: string): Promise<string> {
  const format = to.endsWith(".csv") ? "FORMAT csv, HEADER true" : "FORMAT parquet";
  await duck.run(`COPY (SELECT * FROM read_json_auto('${jsonl}')) TO '${to}' (${format})`);
  return to;
}

/** An output or errors file's rows, nested answers as objects whatever the format. */
async function readTable(path: string): Promise<Row[]> {
  if (path.endsWith(".jsonl"))
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  if (path.endsWith(".parquet"))
    return (await duck.runAndReadAll(`SELECT * FROM read_parquet('${path}')`)).getRowObjectsJson() as Row[];
  const rows = (await duck.runAndReadAll(`SELECT * FROM read_csv('${path}', all_varchar = true)`)).getRowObjectsJS();
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, KEYS.includes(k) ? JSON.parse(String(v)) : v])),
  );
}

/** POST /process's answers for these inputs, in order (64 a request, the default limit). */
async function processAnswers(inputs: unknown[], query = ""): Promise<Row[]> {
  const answers: Row[] = [];
  for (let i = 0; i < inputs.length; i += 64) {
    const res = await fetch(`${server.url}/process${query}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(inputs.slice(i, i + 64)),
    });
    expect(res.status).toBe(200);
    answers.push(...((await res.json()) as Row[]));
  }
  return answers;
}

/** Differences between the job's answer and /process's for one row: the same labels, the same scores, the same fields. */
function differences(got: Row, want: Row, id: unknown): string[] {
  const out: string[] = [];
  expect(Object.keys(got).filter((k) => k !== "id")).toEqual(Object.keys(want));
  for (const key of Object.keys(want)) {
    const [g, w] = [got[key], want[key]] as [ModelAnswer | ModelAnswer[], ModelAnswer | ModelAnswer[]];
    const gs = Array.isArray(g) ? g : [g];
    const ws = Array.isArray(w) ? w : [w];
    if (gs.length !== ws.length) out.push(`${id} ${key}: ${gs.length} labels, /process ${ws.length}`);
    for (const [i, a] of ws.entries()) {
      if (Object.keys(gs[i] ?? {}).join() !== Object.keys(a).join())
        out.push(`${id} ${key}: fields ${Object.keys(gs[i])}`);
      if (gs[i]?.label !== a.label) out.push(`${id} ${key}: label ${gs[i]?.label}, /process ${a.label}`);
      if (gs[i]?.score !== a.score) out.push(`${id} ${key}: score ${gs[i]?.score}, /process ${a.score}`);
    }
  }
  return out;
}

async function expectSameAsProcess(output: Row[], inputsById: Map<string, unknown>, query = "") {
  const ids = output.map((r) => String(r.id));
  const want = await processAnswers(
    ids.map((id) => inputsById.get(id)),
    query,
  );
  expect(output.flatMap((r, i) => differences(r, want[i], r.id))).toEqual([]);
}

const GOOD = texts(300).map((text, i) => ({ id: `t${i}`, text }));
const byId = (rows: { id: string; text: string }[]) => new Map(rows.map((r) => [r.id, r.text] as [string, unknown]));

describe("bun run classify", () => {
  test("JSONL in, Parquet out: every row once, in input order, answered as POST /process answers it (exit 0)", async () => {
    const input = writeJsonl("good.jsonl", GOOD);
    const output = join(work, "good.parquet");
    const ran = await classify(["--input", input, "--output", output, "--chunk-rows", "64"]);
    expect(ran.code).toBe(0);
    const rows = await readTable(output);
    expect(rows.map((r) => r.id)).toEqual(GOOD.map((r) => r.id));
    await expectSameAsProcess(rows, byId(GOOD));
    const summary = ran.lines.find((l) => l.message === "classified");
    expect(summary).toMatchObject({ rows: GOOD.length, errors: 0, rowsThisRun: GOOD.length });
    expect(summary?.paddingEfficiency as number).toBeGreaterThan(0.9);
    expect(await readTable(`${output}.errors.jsonl`)).toEqual([]);
  });
});

describe("bad rows, pairs, top_k, shards", () => {
  test("bad rows go to the errors file with their row number and why; the rest is classified (exit 3)", async () => {
    const long = "x".repeat(201);
    const rows: Row[] = [
      { id: "a", text: "fine" },
      { id: "", text: "empty id" },
      { id: null, text: "null id" },
      { text: "no id" },
      { id: { nested: 1 }, text: "object id" },
      { id: "b", text: 42 },
      { id: "c" },
      { id: "d", text: long },
      { id: 7, text: "a numeric id is kept as text" },
      { id: "e", text: "" },
    ];
    const input = writeJsonl("bad.jsonl", rows);
    const output = join(work, "bad.csv");
    const ran = await classify(["--input", input, "--output", output], { MAX_TEXT_CHARS: "200" });
    expect(ran.code).toBe(3);
    expect(await readTable(`${output}.errors.jsonl`)).toEqual([
      { row: 1, id: "", reason: "id is empty" },
      { row: 2, id: null, reason: "id is missing" },
      { row: 3, id: null, reason: "id is missing" },
      { row: 4, id: '{"nested":1}', reason: "id is not a string or a number (OBJECT)" },
      { row: 5, id: "b", reason: "text is not a string (UBIGINT)" },
      { row: 6, id: "c", reason: "text is missing" },
      { row: 7, id: "d", reason: "text has 201 characters; the limit is 200 (MAX_TEXT_CHARS)" },
    ]);
    const out = await readTable(output);
    expect(out.map((r) => r.id)).toEqual(["a", "7", "e"]);
    const texts = new Map<string, unknown>([
      ["a", "fine"],
      ["7", "a numeric id is kept as text"],
      ["e", ""],
    ]);
    await expectSameAsProcess(out, texts);
    expect(ran.lines.find((l) => l.message === "classified")).toMatchObject({ rows: 10, errors: 7 });
  });

  test("JSON lines that are not records (not JSON, an array, a string) are error rows in their place; the run goes on (exit 3)", async () => {
    const input = join(work, "broken.jsonl");
    const lines = [
      '{"id":"a","text":"before"}',
      '{"id":"b","text": oops}',
      "[1, 2]",
      '"just text"',
      '{"id":"c","text":"after"}',
    ];
    writeFileSync(input, `${lines.join("\n")}\n`);
    const output = join(work, "broken-out.jsonl");
    const ran = await classify(["--input", input, "--output", output]);
    expect(ran.code).toBe(3);
    expect(await readTable(`${output}.errors.jsonl`)).toEqual([
      { row: 1, id: null, reason: "the line is not valid JSON" },
      { row: 2, id: null, reason: "the line is a JSON ARRAY, not an object" },
      { row: 3, id: null, reason: "the line is a JSON VARCHAR, not an object" },
    ]);
    const out = await readTable(output);
    expect(out.map((r) => r.id)).toEqual(["a", "c"]);
    await expectSameAsProcess(
      out,
      new Map<string, unknown>([
        ["a", "before"],
        ["c", "after"],
      ]),
    );
  });

  test("CSV in: a bare empty cell is missing, a quoted empty one the empty text; JSONL out, errors where asked", async () => {
    const input = join(work, "cells.csv");
    // x5: past DuckDB's default CSV line limit (2 MB), still read, then refused by MAX_TEXT_CHARS.
    const huge = "y".repeat(2_100_000);
    await Bun.write(input, `id,text\nx1,"hello, world"\n,no id\nx2,\nx3,""\nx4,"line\nbreak"\nx5,${huge}\n`);
    const output = join(work, "cells.jsonl");
    const errors = join(work, "cells-errors.jsonl");
    const ran = await classify(["--input", input, "--output", output, "--errors", errors]);
    expect(ran.code).toBe(3);
    expect(await readTable(errors)).toEqual([
      { row: 1, id: null, reason: "id is missing" },
      { row: 2, id: "x2", reason: "text is missing" },
      { row: 5, id: "x5", reason: "text has 2100000 characters; the limit is 100000 (MAX_TEXT_CHARS)" },
    ]);
    const out = await readTable(output);
    expect(out.map((r) => r.id)).toEqual(["x1", "x3", "x4"]);
    const texts = new Map<string, unknown>([
      ["x1", "hello, world"],
      ["x3", ""],
      ["x4", "line\nbreak"],
    ]);
    await expectSameAsProcess(out, texts);
  });

  test("Parquet in with a text_pair column, CSV out: each pair answered as /process answers {text, text_pair}", async () => {
    const all = texts(60);
    const pairs = all.map((text, i) => ({ key: `p${i}`, premise: text, hypothesis: all[(i * 11) % all.length] }));
    const input = await convertTable(writeJsonl("pairs.jsonl", pairs), join(work, "pairs.parquet"));
    const output = join(work, "pairs.csv");
    const flags = ["--id-column", "key", "--text-column", "premise", "--pair-column", "hypothesis"];
    const ran = await classify(["--input", input, "--output", output, ...flags]);
    expect(ran.code).toBe(0);
    const out = (await readTable(output)).map(({ key, ...answers }) => ({ id: key, ...answers }));
    expect(out.map((r) => r.id)).toEqual(pairs.map((p) => p.key));
    const inputs = new Map(
      pairs.map((p) => [p.key, { text: p.premise, text_pair: p.hypothesis }] as [string, unknown]),
    );
    await expectSameAsProcess(out, inputs);
  });

  test("--top-k, --raw-scores and --models answer as /process's top_k, raw_scores and models", async () => {
    const input = writeJsonl("ranked.jsonl", GOOD.slice(0, 80));
    const output = join(work, "ranked-out.jsonl");
    const flags = ["--top-k", "2", "--raw-scores", "--models", "ivanlau,cardiffnlp"];
    const ran = await classify(["--input", input, "--output", output, ...flags]);
    expect(ran.code).toBe(0);
    const out = await readTable(output);
    expect(Object.keys(out[0])).toEqual(["id", "cardiffnlp", "ivanlau"]);
    await expectSameAsProcess(out, byId(GOOD), "?top_k=2&raw_scores=true&models=ivanlau,cardiffnlp");
    // Only the models it classifies are loaded: the others take no cores and no memory.
    const ready = ran.lines.filter((l) => /^model \S+ ready$/.test(String(l.message))).map((l) => l.message);
    expect(ready.toSorted()).toEqual(["model cardiffnlp ready", "model ivanlau ready"]);
  });

  test("--shard i/N: the N shards' outputs together hold every row exactly once, row number mod N", async () => {
    const input = writeJsonl("shards.jsonl", GOOD);
    const outputs = [0, 1, 2].map((i) => join(work, `shard-${i}.parquet`));
    const runs = [];
    for (const [i, output] of outputs.entries())
      runs.push(await classify(["--input", input, "--output", output, "--shard", `${i}/3`, "--chunk-rows", "40"]));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    const shards = await Promise.all(outputs.map(readTable));
    for (const [i, rows] of shards.entries())
      expect(rows.map((r) => r.id)).toEqual(GOOD.filter((_, n) => n % 3 === i).map((r) => r.id));
    const ids = shards.flat().map((r) => String(r.id));
    expect(ids.toSorted()).toEqual(GOOD.map((r) => r.id).toSorted());
    await expectSameAsProcess(shards.flat(), byId(GOOD));
  });
});

/** Committed chunks so far, from the state file beside the output (none before it exists). */
function committedChunks(output: string): number {
  try {
    return JSON.parse(readFileSync(`${output}.state.json`, "utf8")).committed.length;
  } catch {
    return 0;
  }
}

describe("resume", () => {
  test("killed with SIGKILL at random points several times, then run again: each row exactly once", async () => {
    const rows = texts(4000).map((text, i) => ({ id: `k${i}`, text }));
    const input = writeJsonl("kill.jsonl", rows);
    const output = join(work, "kill.parquet");
    const argv = [process.execPath, "app/batch/index.ts", "--input", input, "--output", output, "--chunk-rows", "50"];
    const env = { ...process.env, ENGINES_DIR: engines, INTRA_OP_THREADS: "1", LOG_LEVEL: "silent" };
    let killed = 0;
    for (let attempt = 0; attempt < 4; attempt++) {
      const before = committedChunks(output);
      const proc = Bun.spawn(argv, { cwd: ROOT, env, stdout: "ignore", stderr: "inherit" });
      // Killed once it has committed something more (so the runs make progress), a random moment later.
      while (proc.exitCode === null && committedChunks(output) <= before) await Bun.sleep(10);
      await Bun.sleep(Math.random() * 300);
      if (proc.exitCode !== null) break;
      proc.kill("SIGKILL");
      await proc.exited;
      killed++;
    }
    expect(killed).toBeGreaterThanOrEqual(3);
    expect(committedChunks(output)).toBeLessThan(rows.length / 50);
    const last = await classify(["--input", input, "--output", output, "--chunk-rows", "50"]);
    expect(last.code).toBe(0);
    expect(last.lines.find((l) => l.message === "resuming")?.committedChunks as number).toBeGreaterThan(0);
    const out = await readTable(output);
    expect(out.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    await expectSameAsProcess(out, byId(rows));
    expect(existsSync(`${output}.parts`)).toBe(false);
  });

  test("a finished job run again does nothing; run with other arguments it refuses to touch the output (exit 2)", async () => {
    const input = writeJsonl("again.jsonl", GOOD.slice(0, 20));
    const output = join(work, "again-out.jsonl");
    expect((await classify(["--input", input, "--output", output])).code).toBe(0);
    const written = readFileSync(output, "utf8");
    const again = await classify(["--input", input, "--output", output]);
    expect(again.code).toBe(0);
    expect(again.lines.some((l) => l.message === "already complete: nothing to do")).toBe(true);
    const other = await classify(["--input", input, "--output", output, "--top-k", "2"]);
    expect(other.code).toBe(2);
    expect(String(other.lines.find((l) => l.level === "error")?.error)).toContain("scores differ");
    // Other limits refuse or cut other rows: the same arguments under another MAX_SEQUENCE_LENGTH are another job.
    const cut = await classify(["--input", input, "--output", output], { MAX_SEQUENCE_LENGTH: "64" });
    expect(cut.code).toBe(2);
    expect(String(cut.lines.find((l) => l.level === "error")?.error)).toContain("limits differ");
    expect(readFileSync(output, "utf8")).toBe(written);
    // The output removed since: the state alone cannot rebuild it, so it says so instead of reporting success.
    rmSync(output);
    const gone = await classify(["--input", input, "--output", output]);
    expect(gone.code).toBe(2);
    expect(String(gone.lines.find((l) => l.level === "error")?.error)).toContain(
      "is gone but its state says the job finished",
    );
  });

  test("a column the input does not have is refused before anything loads (exit 2)", async () => {
    const input = await convertTable(writeJsonl("cols.jsonl", GOOD.slice(0, 5)), join(work, "cols.csv"));
    const ran = await classify(["--input", input, "--output", join(work, "cols-out.jsonl"), "--text-column", "body"]);
    expect(ran.code).toBe(2);
    expect(String(ran.lines.find((l) => l.level === "error")?.error)).toContain(
      'has no column "body" (its columns: id, text)',
    );
  });
});
