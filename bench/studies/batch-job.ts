/**
 * A study (not part of `bun run bench`), issue 26: the offline batch job (`bun run classify`) against
 * the online service at saturation and the equal-length limit (bench/lib/equal-length-limit.ts), on
 * the same texts and machine, one after another with nothing else running.
 *   bun bench/make-engines.ts --size full /tmp/full-engines
 *   bun bench/studies/batch-job.ts --engines /tmp/full-engines [--source tweets] [--texts 2000]
 *     [--clients 8] [--seconds 40] [--out bench/results/DATE-batch-job.md]
 * Rates are texts per second through every served model: a request of one text, or a row of the file.
 * The batch job's rate is its own "classified" line's (after its models loaded); its wall time,
 * loading included, is reported beside it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { SHARED } from "../../testkit/shared.ts";
import { startServiceProcess } from "../../testkit/child.ts";
import { closedLoop } from "../closed-loop.ts";
import { describeLimit, type EqualLengthLimit, measureEqualLengthLimit } from "../lib/equal-length-limit.ts";
import { loadTexts, SOURCES, type Source } from "../lib/texts.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const CLASSIFY = join(ROOT, "app", "batch", "index.ts");

interface BatchRun {
  rows: number;
  errors: number;
  /** Classifying only, as the job's own "classified" line says (its models were loaded before). */
  seconds: number;
  rowsPerSecond: number;
  paddingEfficiency: number;
  /** From spawn to exit, loading included. */
  wallSeconds: number;
}

interface Result {
  source: Source;
  texts: number;
  limit: EqualLengthLimit;
  online: { clients: number; seconds: number; rps: number; p50: number; p95: number; failures: number };
  batch: BatchRun;
}

const log = (m: string) => console.error(`[batch-job] ${m}`);

/** The service under a closed loop of `clients` on the texts: a short warm-up, then the measured run. */
async function online(engines: string, texts: string[], clients: number, seconds: number) {
  const service = await startServiceProcess(engines, 8330);
  try {
    await closedLoop(service.url, clients, Math.min(10, seconds / 4), texts);
    const r = await closedLoop(service.url, clients, seconds, texts);
    return { clients, seconds: r.seconds, rps: r.rps, p50: r.p50, p95: r.p95, failures: r.failures };
  } finally {
    await service.stop();
  }
}

/** `bun run classify` on the texts as a JSONL file, as a user runs it; its "classified" line. */
async function batch(engines: string, texts: string[]): Promise<BatchRun> {
  const dir = mkdtempSync(join(tmpdir(), "batch-job-"));
  try {
    const input = join(dir, "texts.jsonl");
    writeFileSync(input, texts.map((text, i) => JSON.stringify({ id: String(i), text })).join("\n"));
    const started = performance.now();
    const proc = Bun.spawn(["bun", CLASSIFY, "--input", input, "--output", join(dir, "answers.jsonl")], {
      env: { ...process.env, ENGINES_DIR: engines, LOG_LEVEL: "info" },
      stdout: "pipe",
      stderr: "inherit",
    });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    const wallSeconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`classify exited ${code}`);
    const done = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.message === "classified");
    if (!done) throw new Error("classify wrote no classified line");
    const { rows, errors, seconds, rowsPerSecond, paddingEfficiency } = done;
    return { rows, errors, seconds, rowsPerSecond, paddingEfficiency, wallSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: Result, command: string): string {
  const ratio = (x: number) => (x / r.limit.requestsPerSecond).toFixed(2);
  const goal = (ok: boolean) => (ok ? "met" : "**missed**");
  return [
    `# The batch job against the online service and the equal-length limit (${r.source}, ${r.texts} texts)`,
    "",
    `Command: \`${command}\`; ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores. One after another, nothing else running.`,
    "",
    "| | texts/s | ÷ limit | notes |",
    "|---|---|---|---|",
    `| equal-length limit | ${r.limit.requestsPerSecond.toFixed(2)} | 1.00 | ${describeLimit(r.limit)} |`,
    `| online service, ${r.online.clients} clients | ${r.online.rps.toFixed(2)} | ${ratio(r.online.rps)} | closed loop ${r.online.seconds.toFixed(0)} s, p50 ${r.online.p50.toFixed(0)} ms, p95 ${r.online.p95.toFixed(0)} ms, ${r.online.failures} failures |`,
    `| batch job (\`bun run classify\`) | ${r.batch.rowsPerSecond.toFixed(2)} | ${ratio(r.batch.rowsPerSecond)} | ${r.batch.rows} rows in ${r.batch.seconds.toFixed(1)} s after loading (${r.batch.wallSeconds.toFixed(1)} s from spawn to exit), ${r.batch.errors} errors, padding efficiency ${r.batch.paddingEfficiency.toFixed(3)} |`,
    "",
    `Goals (issue 26): batch ≥ 0.95 of the limit: ${goal(r.batch.rowsPerSecond >= 0.95 * r.limit.requestsPerSecond)}; batch above the online service: ${goal(r.batch.rowsPerSecond > r.online.rps)}.`,
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string" },
      source: { type: "string", default: "tweets" },
      texts: { type: "string", default: "2000" },
      clients: { type: "string", default: "8" },
      seconds: { type: "string", default: "40" },
      out: { type: "string" },
    },
  });
  const source = values.source as Source;
  if (!values.engines || !SOURCES.includes(source)) {
    console.error(
      "usage: bun bench/studies/batch-job.ts --engines DIR [--source tweets] [--texts 2000] [--out FILE.md]",
    );
    return 2;
  }
  const engines = resolve(values.engines);
  const count = Number(values.texts);
  const texts = loadTexts(source, SHARED, count, 1).slice(0, count);
  log(`the equal-length limit on ${texts.length} ${source} texts`);
  const [limit] = await measureEqualLengthLimit(engines, [{ source, texts }], { texts: texts.length });
  log(describeLimit(limit));
  log(`the online service, ${values.clients} clients, ${values.seconds} s`);
  const onlineRun = await online(engines, texts, Number(values.clients), Number(values.seconds));
  log(`online: ${onlineRun.rps.toFixed(2)} texts/s`);
  log("the batch job");
  const batchRun = await batch(engines, texts);
  log(`batch: ${batchRun.rowsPerSecond.toFixed(2)} texts/s`);
  const result: Result = { source, texts: texts.length, limit, online: onlineRun, batch: batchRun };
  const md = report(result, `bun bench/studies/batch-job.ts ${argv.join(" ")}`);
  console.log(md);
  if (values.out) {
    writeFileSync(values.out, md);
    writeFileSync(values.out.replace(/\.md$/, ".json"), JSON.stringify(result, null, 1));
  }
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
