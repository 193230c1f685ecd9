/**
 * `bun run classify` (app/batch) as a person runs it: a child process over tiny random models with
 * their real tokenizers, files in and out in JSONL, CSV and Parquet. Its answers are compared with
 * those of a real listening service on the same engines (POST /process), its bad rows with the errors
 * file, its shards with the whole input, and a run killed with SIGKILL several times with a clean run.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
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
  Bun.write(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
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
