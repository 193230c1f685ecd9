/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-30-performance.md (section 1).
 * The CPU batch sweep (issue 16, part 1): which batch limits and intra-op threads give the raw engine
 * its best throughput on this machine, then the service at saturation with the best of them.
 *   bun bench/studies/cpu-sweep.ts --engines DIR [--mixes graders,tweets] [--texts 64] [--window 16]
 *     [--threads 1,2] [--service-seconds 40] [--out FILE.md]
 * With --out, also FILE.json (the figure's numbers, redrawn by bench/figures.ts) and FILE.svg, which FILE.md embeds.
 * The raw engine forms its batches with the service's own rule over a queue of `window` rows per model
 * (bench/lib/batch-plan.ts); the service runs a closed loop of `window` clients: the same queue depth.
 * Each mix's equal-length limit (bench/lib/equal-length-limit.ts) is measured first, on the texts the
 * service then runs, and the service's rate is reported against it.
 * Full-size random models: bun bench/make-engines.ts --size full DIR.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BatchLimits } from "../../app/batching/policy.ts";
import { readStore } from "../../lib/store/index.ts";
import { SHARED } from "../../testkit/shared.ts";
import { scrape } from "../../testkit/metrics.ts";
import { closedLoop } from "../closed-loop.ts";
import { describeLimit, type EqualLengthLimit, measureEqualLengthLimit } from "../lib/equal-length-limit.ts";
import { type CpuSweepResult, cpuSweepFigure } from "../lib/figures.ts";
import { mean } from "../lib/load.ts";
import { meanBatchByModel, meanPaddingEfficiency } from "../lib/service-metrics.ts";
import { startServiceProcess } from "../../testkit/child.ts";
import { loadTexts, type Source } from "../lib/texts.ts";
import { type RawEngine, startRawEngine } from "../peers/raw.ts";

/** No budget: rows alone limit the batch. */
const UNLIMITED = 1_000_000;

/** The sweep's batch limits: the flat row caps (1 was the default), then budgets of padded tokens. */
export const SWEEP: BatchLimits[] = [
  { maxBatchSize: 1, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 4, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 8, maxBatchTokens: UNLIMITED },
  { maxBatchSize: 32, maxBatchTokens: 128 },
  { maxBatchSize: 32, maxBatchTokens: 256 },
  { maxBatchSize: 32, maxBatchTokens: 512 },
];

interface RawPoint {
  mix: Source;
  /** Rounds repeat the whole grid (the box is noisy): a point per round, then their mean. */
  round: number;
  threads: number;
  limits: BatchLimits;
  textsPerSecond: number;
  paddingEfficiency: number;
  meanBatch: number;
  seconds: number;
}

interface ServiceSetting {
  label: string;
  env: Record<string, string>;
  limits: BatchLimits;
  threads: number;
}

interface ServicePoint {
  mix: Source;
  setting: ServiceSetting;
  rps: number;
  p50: number;
  p95: number;
  failures: number;
  /** Mean rows per batch over the models, and their padding efficiency (the service's /metrics). */
  meanBatch: number;
  padding: number;
  /** p50 of one client alone, ms. */
  p50At1: number;
  /** The raw engine on the same setting and texts, measured just before (texts/s): the box drifts. */
  pairedRaw: number;
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
  const best = (mix: string) => Math.max(...points.filter((p) => p.mix === mix).map((p) => p.textsPerSecond));
  const key = (p: RawPoint) => `${p.threads}/${p.limits.maxBatchSize}/${p.limits.maxBatchTokens}`;
  const groups = Map.groupBy(points, key);
  let choice = { threads: 0, limits: SWEEP[0], score: -1 };
  for (const group of groups.values()) {
    if (group.length !== mixes.length) continue;
    const score = Math.exp(group.reduce((n, p) => n + Math.log(p.textsPerSecond / best(p.mix)), 0) / group.length);
    if (score > choice.score) choice = { threads: group[0].threads, limits: group[0].limits, score };
  }
  return choice;
}

/** The raw sweep, or its points from an earlier run (`--raw FILE.json`: read when it exists, else written). */
async function rawPoints(o: Options): Promise<RawPoint[]> {
  if (o.rawFile && existsSync(o.rawFile)) {
    const same = (a: BatchLimits, b: BatchLimits) =>
      a.maxBatchSize === b.maxBatchSize && a.maxBatchTokens === b.maxBatchTokens;
    const points = JSON.parse(readFileSync(o.rawFile, "utf8")) as RawPoint[];
    log(`raw points from ${o.rawFile}`);
    return points.map((p) => ({ ...p, limits: SWEEP.find((l) => same(l, p.limits)) ?? p.limits }));
  }
  const points = await rawSweep(o);
  if (o.rawFile) writeFileSync(o.rawFile, JSON.stringify(points, null, 1));
  return points;
}

async function rawSweep(o: Options) {
  const { engines, mixes, threads, texts: count, window } = o;
  const points: RawPoint[] = [];
  for (const t of threads) {
    const engine = await startRawEngine(engines, t);
    await engine.throughput(textsOf("tweets", 10), {}); // first runs after the warm-up
    for (let round = 1; round <= o.rounds; round++)
      for (const mix of mixes)
        for (const limits of SWEEP) {
          const r = await engine.steadyThroughput(textsOf(mix, count), limits, window, o.seconds);
          points.push({ mix, threads: t, limits, round, ...r });
          log(
            `raw ${mix}, ${t} thread(s), ${describeLimits(limits)}: ${r.textsPerSecond.toFixed(2)} texts/s, ` +
              `batch ${r.meanBatch.toFixed(2)}, padding ${(r.paddingEfficiency * 100).toFixed(0)}%`,
          );
        }
    engine.stop();
  }
  return points;
}

/** Texts of each mix the service runs on (and its equal-length limit is measured on). */
const SERVICE_TEXTS = 2000;

/** Raw engines by intra-op threads, started once and idle while the service runs (the pairs' raw half). */
const rawEngines = new Map<number, RawEngine>();

async function serviceRun(mix: Source, setting: ServiceSetting, o: Options): Promise<ServicePoint> {
  const texts = textsOf(mix, SERVICE_TEXTS);
  let raw = rawEngines.get(setting.threads);
  if (!raw) {
    raw = await startRawEngine(o.engines, setting.threads);
    rawEngines.set(setting.threads, raw);
  }
  const paired = await raw.steadyThroughput(texts, setting.limits, o.window, o.serviceSeconds);
  log(`raw ${mix} (${setting.label}), just before: ${paired.textsPerSecond.toFixed(2)} texts/s`);
  const service = await startServiceProcess(o.engines, 8320, setting.env);
  try {
    await closedLoop(service.url, 2, 5, texts.slice(-50)); // warm the HTTP path
    const one = await closedLoop(service.url, 1, Math.min(10, o.serviceSeconds / 2), texts);
    const before = await scrape(service.url);
    const r = await closedLoop(service.url, o.window, o.serviceSeconds, texts);
    const after = await scrape(service.url);
    const models = readStore(o.engines).models.map((m) => m.record.key);
    const batches = Object.values(meanBatchByModel(before, after, models));
    const meanBatch = batches.reduce((a, b) => a + b, 0) / batches.length;
    const padding = meanPaddingEfficiency(after, models);
    log(
      `service ${mix} (${setting.label}): ${r.rps.toFixed(2)} req/s, batch ${meanBatch.toFixed(2)}, ${r.failures} failures`,
    );
    return {
      mix,
      setting,
      rps: r.rps,
      p50: r.p50,
      p95: r.p95,
      failures: r.failures,
      meanBatch,
      padding,
      p50At1: one.p50,
      pairedRaw: paired.textsPerSecond,
    };
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
  /** Seconds of steady state per raw point, and how many times the grid is repeated. */
  seconds: number;
  rounds: number;
  serviceRounds: number;
  /** Raw points: read from this file when it exists (the sweep is not run again), else written to it. */
  rawFile?: string;
  out?: string;
}

/** One point per (mix, threads, limits): the mean rate over its rounds, the spread in `spread`. */
function mergeRounds(points: RawPoint[]): (RawPoint & { spread: number })[] {
  const groups = Map.groupBy(points, (p) => `${p.mix}/${p.threads}/${SWEEP.indexOf(p.limits)}`);
  return [...groups.values()].map((g) => {
    const rates = g.map((p) => p.textsPerSecond);
    const average = mean(rates);
    return { ...g[0], textsPerSecond: average, spread: (Math.max(...rates) - Math.min(...rates)) / average };
  });
}

/** The service's table: each setting's mean over its runs against the raw sweep, the paired raw run and the mix's limit. */
function serviceTable(raw: RawPoint[], service: ServicePoint[], limits: EqualLengthLimit[]): string[] {
  const lines = [
    "| mix | settings | req/s | ÷ equal-length limit | p50 ms | p95 ms | p50 ms at 1 client | mean batch | padding | failures | ÷ best raw (sweep) | ÷ raw just before, same setting and texts |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [, runs] of Map.groupBy(service, (x) => `${x.mix}/${x.setting.label}`)) {
    const { mix, setting } = runs[0];
    const bestRaw = Math.max(...raw.filter((p) => p.mix === mix).map((p) => p.textsPerSecond));
    const limit = limits.find((l) => l.source === mix)?.requestsPerSecond ?? Number.NaN;
    const pairs = runs.map((x) => (x.rps / x.pairedRaw).toFixed(2)).join(", ");
    const rps = mean(runs.map((x) => x.rps));
    const each = runs.map((x) => x.rps.toFixed(2)).join(", ");
    const cells = [
      mix,
      setting.label,
      `${rps.toFixed(2)} (${each})`,
      (rps / limit).toFixed(2),
      mean(runs.map((x) => x.p50)).toFixed(0),
      mean(runs.map((x) => x.p95)).toFixed(0),
      mean(runs.map((x) => x.p50At1)).toFixed(0),
      mean(runs.map((x) => x.meanBatch)).toFixed(2),
      `${(mean(runs.map((x) => x.padding)) * 100).toFixed(0)}%`,
      runs.reduce((n, x) => n + x.failures, 0),
      (rps / bestRaw).toFixed(2),
      `${mean(runs.map((x) => x.rps / x.pairedRaw)).toFixed(2)} (${pairs})`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines;
}

function report(
  o: Options,
  raw: RawPoint[],
  choice: ReturnType<typeof bestOverall>,
  service: ServicePoint[],
  equalLength: EqualLengthLimit[],
) {
  const lines = [
    "## CPU batch sweep",
    "",
    `Command: \`bun bench/studies/cpu-sweep.ts ${process.argv.slice(2).join(" ")}\`; ${cpus()[0]?.model ?? "?"}, ` +
      `${availableParallelism()} cores; raw: ${o.seconds} s of steady state per point over ${o.texts} texts, ` +
      `a queue of ${o.window} rows per model, the grid run ${o.rounds} times (mean, ± half the spread).`,
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
        if (!p) return "–";
        const spread = "spread" in p ? ` ±${((p.spread as number) * 50).toFixed(0)}%` : "";
        return `${p.textsPerSecond.toFixed(2)}${spread} (b ${p.meanBatch.toFixed(1)}, pad ${(p.paddingEfficiency * 100).toFixed(0)}%)`;
      }),
    );
    lines.push(`| ${describeLimits(limits)} | ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    `Best over both mixes (geometric mean of rate ÷ the mix's best): ${describeLimits(choice.limits)}, ` +
      `${choice.threads} intra-op thread(s) per session, score ${choice.score.toFixed(3)}.`,
    "",
    `Service at saturation (closed loop, ${o.window} clients, ${o.serviceSeconds} s per run, ${o.serviceRounds} ` +
      "runs per setting interleaved; mean, each run in brackets):",
    "",
    ...serviceTable(raw, service, equalLength),
    "",
    "Equal-length limit (each model's best rows/s in one single-thread session alone on equal-length rows at the " +
      "mix's token lengths; cores ÷ Σ 1 ÷ rate; bench/lib/equal-length-limit.ts), measured at the start:",
    "",
    ...equalLength.map((l) => `- ${describeLimit(l)}`),
  );
  return `${lines.join("\n")}\n`;
}

/** What the figure plots: the raw grid in the sweep's order, each service setting's mean over its runs. */
function figureData(raw: RawPoint[], service: ServicePoint[]): CpuSweepResult {
  const byLimits = [...raw].sort((a, b) => SWEEP.indexOf(a.limits) - SWEEP.indexOf(b.limits));
  const settings = [...Map.groupBy(service, (x) => `${x.mix}/${x.setting.label}`).values()];
  return {
    kind: "cpu-sweep",
    raw: byLimits.map((p) => ({
      mix: p.mix,
      threads: p.threads,
      limit: describeLimits(p.limits),
      textsPerSecond: p.textsPerSecond,
    })),
    service: settings.map((runs) => ({
      mix: runs[0].mix,
      threads: runs[0].setting.threads,
      limit: describeLimits(runs[0].setting.limits),
      rps: runs.reduce((n, x) => n + x.rps, 0) / runs.length,
    })),
  };
}

/** FILE.md with its figure embedded, FILE.json and FILE.svg. */
async function writeOut(out: string, md: string, data: CpuSweepResult) {
  const base = out.replace(/\.md$/, "");
  writeFileSync(
    out,
    `${md}\n![the raw engine's throughput at each batch limit, and the service at saturation](${basename(base)}.svg)\n`,
  );
  writeFileSync(`${base}.json`, JSON.stringify(data, null, 1));
  writeFileSync(`${base}.svg`, await cpuSweepFigure(data));
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
      seconds: { type: "string", default: "12" },
      rounds: { type: "string", default: "2" },
      "service-rounds": { type: "string", default: "2" },
      raw: { type: "string" },
      out: { type: "string" },
    },
  });
  if (!values.engines) {
    console.error(
      "usage: bun bench/studies/cpu-sweep.ts --engines DIR [--mixes graders,tweets] [--texts 64] [--out FILE]",
    );
    return 2;
  }
  const o: Options = {
    engines: resolve(values.engines),
    mixes: values.mixes.split(",") as Source[],
    texts: Number(values.texts),
    window: Number(values.window),
    threads: values.threads.split(",").map(Number),
    serviceSeconds: Number(values["service-seconds"]),
    seconds: Number(values.seconds),
    rounds: Number(values.rounds),
    serviceRounds: Number(values["service-rounds"]),
    rawFile: values.raw,
    out: values.out,
  };
  // First, with nothing else running: the yardstick of the service runs below.
  const limitTexts = o.mixes.map((mix) => ({ source: mix, texts: textsOf(mix, SERVICE_TEXTS) }));
  const limits = await measureEqualLengthLimit(o.engines, limitTexts);
  for (const l of limits) log(`equal-length limit, ${describeLimit(l)}`);
  const raw = mergeRounds(await rawPoints(o));
  const choice = bestOverall(raw);
  log(`best: ${describeLimits(choice.limits)}, ${choice.threads} thread(s)`);
  const setting = (label: string, limits: BatchLimits, threads: number): ServiceSetting => ({
    label: `${label}: ${describeLimits(limits)}, ${threads} thr.`,
    limits,
    threads,
    env: {
      CPU_MAX_BATCH_SIZE: String(limits.maxBatchSize),
      CPU_MAX_BATCH_TOKENS: String(Math.min(limits.maxBatchTokens, 16384)),
      // The global budget caps the CPU's: raised so the setting under test is the one in force.
      MAX_BATCH_TOKENS: "16384",
      INTRA_OP_THREADS: String(threads),
    },
  });
  const settings = [setting("best", choice.limits, choice.threads), setting("flat", SWEEP[0], 1)];
  const service: ServicePoint[] = [];
  // Rounds interleave the settings, so a slow stretch of the box does not land on one of them only.
  for (let round = 0; round < o.serviceRounds; round++)
    for (const mix of o.mixes) for (const s of settings) service.push(await serviceRun(mix, s, o));
  for (const engine of rawEngines.values()) engine.stop();
  const md = report(o, raw, choice, service, limits);
  if (o.out) await writeOut(o.out, md, figureData(raw, service));
  console.log(md);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
