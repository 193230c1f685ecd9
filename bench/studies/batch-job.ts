/**
 * A study (not part of `bun run bench`), issue 26: the offline batch job (`bun run classify`) against
 * the online service at saturation and the equal-length limit (bench/lib/equal-length-limit.ts), on
 * the same texts and machine, one after another with nothing else running.
 *   bun bench/make-engines.ts --size full /tmp/full-engines
 *   bun bench/studies/batch-job.ts --engines /tmp/full-engines [--source tweets] [--texts 2000]
 *     [--clients 8] [--seconds 40] [--rounds 2] [--out bench/results/DATE-batch-job.md]
 * Rates are texts per second through every served model: a request of one text, or a row of the file.
 * The batch job's rate is its own "classified" line's (after its models loaded); its wall time,
 * loading included, is reported beside it.
 * This machine's speed drifts by several percent over minutes (a VM), more than the margins measured
 * here: so the limit is measured before and after each job run, and each run is set against the mean
 * of the two around it, the online service too.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { SHARED } from "../../testkit/shared.ts";
import { startServiceProcess } from "../../testkit/child.ts";
import { closedLoop } from "../closed-loop.ts";
import {
  bestOfRunsLimit,
  describeLimit,
  type EqualLengthLimit,
  measureEqualLengthLimit,
  ratiosToLimitsAround,
} from "../lib/equal-length-limit.ts";
import { mean } from "../lib/load.ts";
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
  /** In order: before and after the online service, then after each job run. */
  limits: EqualLengthLimit[];
  online: { clients: number; seconds: number; rps: number; p50: number; p95: number; failures: number };
  /** Job run r ran between limits r + 1 and r + 2. */
  batches: BatchRun[];
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
  const limitRates = r.limits.map((l) => l.requestsPerSecond);
  // The online run, then each job run, each between two limits.
  const runRates = [r.online.rps, ...r.batches.map((b) => b.rowsPerSecond)];
  const [onlineRatio, ...ratios] = ratiosToLimitsAround(limitRates, runRates);
  const againstBestOfRuns = ratiosToLimitsAround(r.limits.map(bestOfRunsLimit), runRates).slice(1);
  const allCores = r.limits.flatMap((l) => (l.allCores ? [l.allCores.requestsPerSecond / l.requestsPerSecond] : []));
  const batchRate = mean(r.batches.map((b) => b.rowsPerSecond));
  const goal = (ok: boolean) => (ok ? "met" : "**missed**");
  const rows = [
    `| equal-length limit | ${limitRates[0].toFixed(2)} | | before the online service: ${describeLimit(r.limits[0])} |`,
    `| online service, ${r.online.clients} clients | ${r.online.rps.toFixed(2)} | ${onlineRatio.toFixed(3)} | ÷ the mean of the limits before and after it; closed loop ${r.online.seconds.toFixed(0)} s, p50 ${r.online.p50.toFixed(0)} ms, p95 ${r.online.p95.toFixed(0)} ms, ${r.online.failures} failures |`,
    `| equal-length limit | ${limitRates[1].toFixed(2)} | | after the online service: ${describeLimit(r.limits[1])} |`,
    ...r.batches.flatMap((b, i) => [
      `| batch job (\`bun run classify\`), run ${i + 1} | ${b.rowsPerSecond.toFixed(2)} | ${ratios[i].toFixed(3)} | ÷ the mean of the limits before and after it; ${b.rows} rows in ${b.seconds.toFixed(1)} s after loading (${b.wallSeconds.toFixed(1)} s from spawn to exit), ${b.errors} errors, padding efficiency ${b.paddingEfficiency.toFixed(3)} |`,
      `| equal-length limit | ${limitRates[i + 2].toFixed(2)} | | after job run ${i + 1}: ${describeLimit(r.limits[i + 2])} |`,
    ]),
  ];
  return [
    `# The batch job against the online service and the equal-length limit (${r.source}, ${r.texts} texts)`,
    "",
    `Command: \`${command}\`; ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores. One after another, nothing else running, in the order of the table.`,
    "",
    "| | texts/s | ÷ limit | notes |",
    "|---|---|---|---|",
    ...rows,
    "",
    `Batch job ÷ limit, mean over ${ratios.length} run(s): **${mean(ratios).toFixed(3)}**; online service ÷ limit: ${onlineRatio.toFixed(3)}.`,
    `Against the limits made of each model's best choosing run instead (the estimate before 2026-12-04, biased high by picking the luckiest of its runs): ${mean(againstBestOfRuns).toFixed(3)}.`,
    ...(allCores.length > 0
      ? [
          `The same equal-length batches on all cores at once ÷ the limit, mean of ${allCores.length}: ${mean(allCores).toFixed(3)} (sessions side by side against one alone, which the limit does not count: below 1, what they cost one another).`,
        ]
      : []),
    `Goals (issue 26): batch ≥ 0.95 of the limit: ${goal(mean(ratios) >= 0.95)}; batch above the online service: ${goal(batchRate > r.online.rps)}.`,
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
      rounds: { type: "string", default: "2" },
      out: { type: "string" },
    },
  });
  const source = values.source as Source;
  if (!values.engines || !SOURCES.includes(source) || !(Number(values.rounds) >= 1)) {
    console.error(
      "usage: bun bench/studies/batch-job.ts --engines DIR [--source tweets] [--texts 2000] [--rounds 2] [--out FILE.md]",
    );
    return 2;
  }
  const engines = resolve(values.engines);
  const count = Number(values.texts);
  const texts = loadTexts(source, SHARED, count, 1).slice(0, count);
  const limit = async () => {
    log(`the equal-length limit on ${texts.length} ${source} texts`);
    const [l] = await measureEqualLengthLimit(engines, [{ source, texts }], { texts: texts.length, allCores: true });
    log(describeLimit(l));
    return l;
  };
  const limits = [await limit()];
  log(`the online service, ${values.clients} clients, ${values.seconds} s`);
  const onlineRun = await online(engines, texts, Number(values.clients), Number(values.seconds));
  log(`online: ${onlineRun.rps.toFixed(2)} texts/s`);
  limits.push(await limit());
  const batches: BatchRun[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    log(`the batch job, run ${round}`);
    batches.push(await batch(engines, texts));
    log(`batch: ${batches[batches.length - 1].rowsPerSecond.toFixed(2)} texts/s`);
    limits.push(await limit());
  }
  const result: Result = { source, texts: texts.length, limits, online: onlineRun, batches };
  const md = report(result, `bun bench/studies/batch-job.ts ${argv.join(" ")}`);
  console.log(md);
  if (values.out) {
    writeFileSync(values.out, md);
    writeFileSync(values.out.replace(/\.md$/, ".json"), JSON.stringify(result, null, 1));
  }
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
