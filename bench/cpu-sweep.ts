/**
 * The CPU batch sweep (issue 16, part 1): which batch limits and intra-op threads give the raw engine
 * its best throughput on this machine, then the service at saturation with the best of them.
 *   bun bench/cpu-sweep.ts --engines DIR [--mixes graders,tweets] [--texts 64] [--window 16]
 *     [--threads 1,2] [--service-seconds 40] [--out FILE.md]
 * The raw engine forms its batches with the service's own rule over a queue of `window` rows per model
 * (bench/lib/batch-plan.ts); the service runs a closed loop of `window` clients: the same queue depth.
 * Full-size random models: bun bench/make-engines.ts --size full DIR.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BatchLimits } from "../app/batching/policy.ts";
import { SHARED } from "../testkit/fixtures.ts";
import { closedLoop } from "./closed-loop.ts";
import { startServiceProcess } from "./lib/service-process.ts";
import { loadTexts, type Source } from "./lib/texts.ts";
import { startRawEngine } from "./peers/raw.ts";

/** No budget: rows alone limit the batch. */
const UNLIMITED = 1_000_000;

/** The sweep's batch limits: the flat row caps (1 was the default), then budgets of padded tokens. */
export const SWEEP: BatchLimits[] = [
  { maxBatchSize: 1, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 4, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 8, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 32, maxBatchTokens: 64 },
  { maxBatchSize: 32, maxBatchTokens: 128 },
  { maxBatchSize: 32, maxBatchTokens: 256 },
  { maxBatchSize: 32, maxBatchTokens: 512 },
];

interface RawPoint {
  mix: Source;
  threads: number;
  limits: BatchLimits;
  textsPerSecond: number;
  paddingEfficiency: number;
  meanBatch: number;
  seconds: number;
}

interface ServicePoint {
  mix: Source;
  label: string;
  env: Record<string, string>;
  rps: number;
  p50: number;
  p95: number;
  failures: number;
}

const log = (m: string) => console.log(`[cpu-sweep ${new Date().toISOString().slice(11, 19)}] ${m}`);
const describeLimits = (l: BatchLimits) =>
  l.maxBatchTokens >= UNLIMITED
    ? `${l.maxBatchSize} row${l.maxBatchSize === 1 ? "" : "s"}`
    : `${l.maxBatchTokens} tokens (≤ ${l.maxBatchSize} rows)`;

function textsOf(mix: Source, count: number): string[] {
  const all = loadTexts(mix, SHARED, count, 7);
  // A stretch from the middle of a corpus (its first lines may be unusual), the graders' from their seed.
  const from = mix === "graders" ? 0 : Math.floor(all.length / 3);
  return all.slice(from, from + count);
}

/** The best limits over both mixes: the highest geometric mean of each mix's rate ÷ that mix's best rate. */
export function bestOverall(points: RawPoint[]): { threads: number; limits: BatchLimits; score: number } {
  const mixes = [...new Set(points.map((p) => p.mix))];
  const best = new Map(
    mixes.map((m) => [m, Math.max(...points.filter((p) => p.mix === m).map((p) => p.textsPerSecond))]),
  );
  const key = (p: RawPoint) => `${p.threads}/${p.limits.maxBatchSize}/${p.limits.maxBatchTokens}`;
  const groups = Map.groupBy(points, key);
  let choice = { threads: 0, limits: SWEEP[0], score: -1 };
  for (const group of groups.values()) {
    if (group.length !== mixes.length) continue;
    const score = Math.exp(group.reduce((n, p) => n + Math.log(p.textsPerSecond / best.get(p.mix)!), 0) / group.length);
    if (score > choice.score) choice = { threads: group[0].threads, limits: group[0].limits, score };
  }
  return choice;
}

async function rawSweep(engines: string, mixes: Source[], threads: number[], count: number, window: number) {
  const points: RawPoint[] = [];
  for (const t of threads) {
    const engine = await startRawEngine(engines, t);
    await engine.throughput(textsOf("tweets", 10), {}); // first runs after the warm-up
    for (const mix of mixes)
      for (const limits of SWEEP) {
        const r = await engine.throughputAtSaturation(textsOf(mix, count), limits, window);
        points.push({ mix, threads: t, limits, ...r });
        log(
          `raw ${mix}, ${t} thread(s), ${describeLimits(limits)}: ${r.textsPerSecond.toFixed(2)} texts/s, ` +
            `batch ${r.meanBatch.toFixed(2)}, padding ${(r.paddingEfficiency * 100).toFixed(0)}%`,
        );
      }
    engine.stop();
  }
  return points;
}

async function serviceRun(engines: string, mix: Source, label: string, env: Record<string, string>, o: Options) {
  const service = await startServiceProcess(engines, 8320, env);
  try {
    const texts = textsOf(mix, 2000);
    await closedLoop(service.url, 2, 5, texts.slice(-50)); // warm the HTTP path
    const r = await closedLoop(service.url, o.window, o.serviceSeconds, texts);
    log(`service ${mix} (${label}): ${r.rps.toFixed(2)} req/s, p50 ${r.p50.toFixed(0)} ms, ${r.failures} failures`);
    return { mix, label, env, rps: r.rps, p50: r.p50, p95: r.p95, failures: r.failures };
  } finally {
    await service.stop();
  }
}

interface Options {
  engines: string;
  mixes: Source[];
  texts: number;
  window: number;
  threads: number[];
  serviceSeconds: number;
  out?: string;
}

function report(o: Options, raw: RawPoint[], choice: ReturnType<typeof bestOverall>, service: ServicePoint[]) {
  const lines = [
    "## CPU batch sweep",
    "",
    `Command: \`bun bench/cpu-sweep.ts ${process.argv.slice(2).join(" ")}\`; ${cpus()[0]?.model ?? "?"}, ` +
      `${availableParallelism()} cores; ${o.texts} texts per raw run, a queue of ${o.window} rows per model.`,
    "",
    "Raw engine (the five models at once, each in its worker, batches formed by the service's rule), texts/s:",
    "",
    `| batch limit | ${o.threads.flatMap((t) => o.mixes.map((m) => `${m}, ${t} thr.`)).join(" | ")} |`,
    `|---|${o.threads.flatMap(() => o.mixes.map(() => "---:")).join("|")}|`,
  ];
  for (const limits of SWEEP) {
    const cells = o.threads.flatMap((t) =>
      o.mixes.map((m) => {
        const p = raw.find((x) => x.mix === m && x.threads === t && x.limits === limits);
        return p
          ? `${p.textsPerSecond.toFixed(2)} (b ${p.meanBatch.toFixed(1)}, pad ${(p.paddingEfficiency * 100).toFixed(0)}%)`
          : "–";
      }),
    );
    lines.push(`| ${describeLimits(limits)} | ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    `Best over both mixes (geometric mean of rate ÷ the mix's best): ${describeLimits(choice.limits)}, ` +
      `${choice.threads} intra-op thread(s) per session, score ${choice.score.toFixed(3)}.`,
    "",
    `Service at saturation (closed loop, ${o.window} clients, ${o.serviceSeconds} s), req/s:`,
    "",
    "| mix | settings | req/s | p50 ms | p95 ms | failures | ÷ best raw |",
    "|---|---|---:|---:|---:|---:|---:|",
  );
  for (const s of service) {
    const bestRaw = Math.max(...raw.filter((p) => p.mix === s.mix).map((p) => p.textsPerSecond));
    lines.push(
      `| ${s.mix} | ${s.label} | ${s.rps.toFixed(2)} | ${s.p50.toFixed(0)} | ${s.p95.toFixed(0)} | ${s.failures} | ${(s.rps / bestRaw).toFixed(2)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string" },
      mixes: { type: "string", default: "graders,tweets" },
      texts: { type: "string", default: "64" },
      window: { type: "string", default: "16" },
      threads: { type: "string", default: "1,2" },
      "service-seconds": { type: "string", default: "40" },
      out: { type: "string" },
    },
  });
  if (!values.engines) {
    console.error("usage: bun bench/cpu-sweep.ts --engines DIR [--mixes graders,tweets] [--texts 64] [--out FILE]");
    return 2;
  }
  const o: Options = {
    engines: resolve(values.engines),
    mixes: values.mixes!.split(",") as Source[],
    texts: Number(values.texts),
    window: Number(values.window),
    threads: values.threads!.split(",").map(Number),
    serviceSeconds: Number(values["service-seconds"]),
    out: values.out,
  };
  const raw = await rawSweep(o.engines, o.mixes, o.threads, o.texts, o.window);
  const choice = bestOverall(raw);
  log(`best: ${describeLimits(choice.limits)}, ${choice.threads} thread(s)`);
  const chosen = {
    CPU_MAX_BATCH_SIZE: String(choice.limits.maxBatchSize),
    CPU_MAX_BATCH_TOKENS: String(Math.min(choice.limits.maxBatchTokens, 16384)),
    INTRA_OP_THREADS: String(choice.threads),
  };
  const before = { CPU_MAX_BATCH_SIZE: "1", CPU_MAX_BATCH_TOKENS: "16384", INTRA_OP_THREADS: "1" };
  const service: ServicePoint[] = [];
  for (const mix of o.mixes) {
    service.push(
      await serviceRun(o.engines, mix, `chosen: ${describeLimits(choice.limits)}, ${choice.threads} thr.`, chosen, o),
    );
    service.push(await serviceRun(o.engines, mix, "before: 1 row, 1 thr.", before, o));
  }
  const md = report(o, raw, choice, service);
  if (o.out) writeFileSync(o.out, md);
  console.log(md);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
