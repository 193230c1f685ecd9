/**
 * The benchmark: the service, the naive transformers.js peer and the raw engine, on the same models
 * and machine, in one run. `bun run bench --engines DIR` (short, a few minutes) or `--profile full`.
 * See README "Benchmarks". Writes bench/results/<date>-<machine>.md, .json and its figures (.svg; bench/lib/report.ts, figures.ts).
 */
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, hostname, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readStore, type ModelRecord, type Store } from "../lib/store/index.ts";
import { SHARED } from "../testkit/shared.ts";
import { scrape } from "../testkit/metrics.ts";
import { closedLoop } from "./closed-loop.ts";
import { scalePlan } from "./lib/arrival.ts";
import { measureGemm } from "./lib/gemm.ts";
import { describeLimit, type LimitOptions, measureEqualLengthLimit } from "./lib/equal-length-limit.ts";
import { arrivalLoad, rssMb, type LoadStats } from "./lib/load.ts";
import { meanBatchByModel, meanPaddingEfficiency, paddingBetween } from "./lib/service-metrics.ts";
import { startServiceProcess } from "../testkit/child.ts";
import { headline, hourlyPrice, writeReport } from "./lib/report.ts";
import type {
  BenchProfile,
  BenchResult,
  LimitRun,
  PeerRun,
  RawRun,
  RooflineInputs,
  TokenLengths,
} from "./lib/report.ts";
import { requestFlops } from "./lib/roofline.ts";
import { GRADERS, type Scenario } from "./lib/scenarios.ts";
import { lengthSummary, loadTexts, SOURCES, type Source } from "./lib/texts.ts";
import { familyTokenizers, tokenCounts } from "./lib/token-counts.ts";
import { startRawEngine } from "./peers/raw.ts";

const USAGE =
  "usage: bun run bench --engines DIR [--profile short|full] [--time-scale X] [--rate-scale X] " +
  "[--price-per-hour USD] [--peers service,naive,raw,limit]\n" +
  "(full-size random models: bun bench/make-engines.ts --size full DIR)";

const HTTP_PEERS = ["service", "naive"] as const;
type HttpPeer = (typeof HTTP_PEERS)[number];

/** The command line, or null when it cannot run (no engines). */
function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string", default: process.env.BENCH_ENGINES },
      profile: { type: "string", default: "short" },
      "time-scale": { type: "string" },
      "rate-scale": { type: "string" },
      "price-per-hour": { type: "string" },
      instance: { type: "string", default: "c7i.2xlarge" },
      machine: { type: "string", default: hostname().split(".")[0] },
      out: { type: "string" },
      peers: { type: "string", default: "service,naive,raw,limit" },
    },
  });
  if (!values.engines) return null;
  const full = values.profile === "full";
  return {
    engines: resolve(values.engines),
    profileName: values.profile,
    full,
    profile: benchProfile(full, values["time-scale"]),
    /** NaN: sized from the first peer's sweep. */
    rateScale: values["rate-scale"] ? Number(values["rate-scale"]) : NaN,
    instance: values.instance,
    pricePerHour: hourlyPrice(values.instance, values["price-per-hour"]),
    machine: values.machine,
    out: values.out,
    peers: new Set(values.peers.split(",")),
  };
}

type BenchOptions = NonNullable<ReturnType<typeof parseOptions>>;

function benchProfile(full: boolean, timeScale?: string): BenchProfile {
  return {
    sweep: full ? [1, 2, 4, 10, 16, 32] : [1, 4, 10],
    sweepSeconds: full ? 30 : 12,
    timeScale: Number(timeScale ?? (full ? 1 : 0.1)),
    single: full ? 100 : 30,
  };
}

/** What every phase of one run works on. */
interface Bench {
  options: BenchOptions;
  texts: string[];
  models: ModelRecord[];
  /** The text sets the service is held against the equal-length limit on, side by side. */
  limitTexts: { source: Source; texts: string[] }[];
}

/** Issue 25: the service against the equal-length limit in a closed loop of this many clients. */
const LIMIT_CLIENTS = 8;

/** How long the equal-length limit is measured: per model, batch size and text set. */
const limitOptions = (full: boolean): Partial<LimitOptions> =>
  full ? { batchSizes: [1, 4, 8, 16], seconds: 5 } : { batchSizes: [1, 4, 8], seconds: 2 };

const keysOf = (bench: Bench) => bench.models.map((m) => m.key);

const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** The texts from `offset` on, wrapping: each phase starts elsewhere in the same stream. */
function rotated(texts: string[], offset: number): string[] {
  const at = offset % texts.length;
  return [...texts.slice(at), ...texts.slice(0, at)];
}

/** Texts of each source whose token lengths the report shows; the graders' ones also price a request in FLOPs. */
const LENGTH_SAMPLE = 2000;

/**
 * Token lengths of every source under each tokenizer family, untruncated (max length 1e6): their
 * summary, and per family the graders' texts' own counts (the first of the run's texts, same seed).
 */
async function tokenLengths(store: Store): Promise<{ lengths: TokenLengths[]; graders: Map<string, number[]> }> {
  const lengths: TokenLengths[] = [];
  const graders = new Map<string, number[]>();
  for (const [family, tok] of await familyTokenizers(store)) {
    const sources = [];
    for (const s of SOURCES) {
      const counts = await tokenCounts(tok, loadTexts(s, SHARED, LENGTH_SAMPLE, 1).slice(0, LENGTH_SAMPLE));
      if (s === "graders") graders.set(family, counts);
      sources.push({ source: s, ...lengthSummary(counts) });
    }
    lengths.push({ family, sources });
  }
  return { lengths, graders };
}

/**
 * The roofline's limit, measured before any peer starts (all cores, nothing else running), and the
 * FLOPs of one request; NaN when a model served as a given ONNX file has no weights list to count.
 */
async function rooflineInputs(models: ModelRecord[], graders: Map<string, number[]>): Promise<RooflineInputs> {
  const gemm = await measureGemm();
  log(`GEMM: ${gemm.gflops.toFixed(1)} GFLOP/s (MatMul through onnxruntime-node, ${gemm.threads} threads)`);
  let flopsPerRequest = Number.NaN;
  try {
    flopsPerRequest = requestFlops(models, graders);
  } catch (e) {
    log(`no FLOPs per request: ${(e as Error).message}`);
  }
  return { gemm, flopsPerRequest, texts: LENGTH_SAMPLE };
}

async function startServer(peer: HttpPeer, engines: string) {
  const port = peer === "service" ? 8310 : 8311;
  const entry =
    peer === "service"
      ? ["bun", "app/index.ts"]
      : ["bun", "bench/peers/naive-server.ts", "--engines", engines, "--port", String(port)];
  const server = await startServiceProcess(engines, port, {}, entry);
  let rssMax = 0;
  const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMb(server.pid))), 1000);
  const stop = async () => {
    clearInterval(rssTimer);
    await server.stop();
  };
  return { url: server.url, stop, rss: () => rssMax };
}

/** Each answer's body, in text order: compared across peers. */
async function answersTo(url: string, texts: string[]): Promise<unknown[]> {
  const headers = { "content-type": "application/json" };
  const ask = async (text: string) => {
    const res = await fetch(`${url}/process`, { method: "POST", body: JSON.stringify(text), headers });
    return res.json();
  };
  return Promise.all(texts.map(ask));
}

/** How many texts got the same label from every model in both answers (NaN unless both peers ran). */
function labelsAgree(a?: unknown[], b?: unknown[]): number {
  if (!a || !b) return NaN;
  type Answer = Record<string, { label: string }>;
  const same = (x: Answer, y: Answer) => Object.keys(x).every((k) => x[k].label === y[k]?.label);
  return a.filter((x, i) => same(x as Answer, b[i] as Answer)).length;
}

/** Closed loops at each client count; at the highest, the service's batch sizes (the raw engine is fed those). */
async function saturationSweep(bench: Bench, peer: HttpPeer, url: string) {
  const { sweep, sweepSeconds } = bench.options.profile;
  const steps: PeerRun["sweep"] = [];
  let saturationBatch: Record<string, number> | undefined;
  for (const clients of sweep) {
    const before = peer === "service" ? await scrape(url) : "";
    const r = await closedLoop(url, clients, sweepSeconds, rotated(bench.texts, clients * 997));
    if (peer !== "service") steps.push(r);
    else {
      // How batches and padding move with load: read off the service's metrics around each step.
      const after = await scrape(url);
      const batches = meanBatchByModel(before, after, keysOf(bench));
      const meanBatch = Object.values(batches).reduce((a, b) => a + b, 0) / bench.models.length;
      steps.push({ ...r, meanBatch, padding: paddingBetween(before, after, keysOf(bench)) });
      if (clients === Math.max(...sweep)) saturationBatch = batches;
    }
    const latency = `p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms`;
    log(`${peer}: ${clients} clients → ${r.rps.toFixed(2)} req/s, ${latency}, ${r.failures} failures`);
  }
  return { steps, saturationBatch };
}

function runScenario(
  sc: Scenario,
  url: string,
  texts: string[],
  timeScale: number,
  rateScale: number,
): Promise<LoadStats> {
  if (sc.kind === "closed") return closedLoop(url, sc.clients, sc.durationS * timeScale, rotated(texts, 5000));
  // 1 req/s is 1 req/s on any box: only the ramps are rate-scaled.
  const plan = scalePlan(sc.plan, timeScale, sc.name === "does_it_even_work" ? 1 : rateScale);
  return arrivalLoad(url, plan, rotated(texts, 9000));
}

/** The graders' scenarios back to back; for the service, the mean batch size in each. */
async function gradersScenarios(bench: Bench, peer: HttpPeer, url: string, rateScale: number) {
  const stats: PeerRun["scenarios"] = [];
  const batch: Record<string, number> = {};
  for (const sc of GRADERS) {
    const before = peer === "service" ? await scrape(url) : "";
    const r = await runScenario(sc, url, bench.texts, bench.options.profile.timeScale, rateScale);
    stats.push({ ...r, name: sc.name });
    if (peer === "service") {
      const perModel = Object.values(meanBatchByModel(before, await scrape(url), keysOf(bench)));
      batch[sc.name] = perModel.reduce((a, b) => a + b, 0) / bench.models.length;
    }
    const latency = `p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms`;
    log(`${peer}: ${sc.name} → ${r.requests} requests, ${r.failures} failures, ${r.dropped} dropped, ${latency}`);
  }
  return { stats, batch: peer === "service" ? batch : undefined };
}

/**
 * The service on each of the limit's text sets: one client (its p50), then LIMIT_CLIENTS (its rate,
 * batches and padding, read off its metrics around the loop).
 */
async function serviceAgainstLimit(bench: Bench, url: string): Promise<Map<Source, NonNullable<LimitRun["service"]>>> {
  const seconds = bench.options.profile.sweepSeconds;
  const keys = keysOf(bench);
  const runs = new Map<Source, NonNullable<LimitRun["service"]>>();
  for (const { source, texts } of bench.limitTexts) {
    const one = await closedLoop(url, 1, seconds, texts);
    const before = await scrape(url);
    const r = await closedLoop(url, LIMIT_CLIENTS, seconds, texts);
    const after = await scrape(url);
    const batches = Object.values(meanBatchByModel(before, after, keys));
    const meanBatch = batches.reduce((a, b) => a + b, 0) / batches.length;
    const padding = paddingBetween(before, after, keys);
    runs.set(source, { clients: LIMIT_CLIENTS, rps: r.rps, meanBatch, padding, p50At1: one.p50 });
    log(
      `service on ${source}: ${r.rps.toFixed(2)} req/s at ${LIMIT_CLIENTS} clients, batch ${meanBatch.toFixed(2)}, ` +
        `padding ${padding.toFixed(3)}; p50 ${one.p50.toFixed(0)} ms at 1 client`,
    );
  }
  return runs;
}

/** The service and the naive peer, one after another, each as its own process. */
async function measureHttpPeers(bench: Bench) {
  const runs: PeerRun[] = [];
  const answers: Partial<Record<HttpPeer, unknown[]>> = {};
  let rateScale = bench.options.rateScale;
  let saturationBatch: Record<string, number> = {};
  let limitRuns = new Map<Source, NonNullable<LimitRun["service"]>>();
  for (const peer of HTTP_PEERS) {
    if (!bench.options.peers.has(peer)) continue;
    log(`${peer}: starting`);
    const server = await startServer(peer, bench.options.engines);
    answers[peer] = await answersTo(server.url, bench.texts.slice(0, 20));
    const sweep = await saturationSweep(bench, peer, server.url);
    if (sweep.saturationBatch) saturationBatch = sweep.saturationBatch;
    // Rates sized so highload's 60 req/s lands at the service's own saturation throughput on this box.
    if (Number.isNaN(rateScale)) rateScale = Math.max(...sweep.steps.map((x) => x.rps)) / 60;
    const scenarios = await gradersScenarios(bench, peer, server.url, rateScale);
    const padding = peer === "service" ? meanPaddingEfficiency(await scrape(server.url), keysOf(bench)) : undefined;
    // After the whole-run padding is read: these loops are the limit's comparison, not the graders' run.
    if (peer === "service" && bench.options.peers.has("limit"))
      limitRuns = await serviceAgainstLimit(bench, server.url);
    const rssMaxMb = server.rss();
    runs.push({ peer, sweep: sweep.steps, scenarios: scenarios.stats, rssMaxMb, batch: scenarios.batch, padding });
    await server.stop();
  }
  return { runs, answers, rateScale, saturationBatch, limitRuns };
}

/**
 * The raw engine at the service's saturation batch sizes (8 without a service run), on as many texts
 * as the service answers in 20 s (full: 60 s) at its best, then one text at a time.
 */
async function measureRaw(bench: Bench, saturationBatch: Record<string, number>, service?: PeerRun): Promise<RawRun> {
  log("raw: starting");
  const { models, texts, options } = bench;
  const intra = Math.max(1, Math.floor(availableParallelism() / models.length));
  const engine = await startRawEngine(options.engines, intra);
  const batch = Object.keys(saturationBatch).length
    ? saturationBatch
    : Object.fromEntries(models.map((m) => [m.key, 8]));
  const serviceBest = service?.sweep.reduce((a, b) => Math.max(a, b.rps), 0) ?? 5;
  const n = Math.max(50, Math.round(serviceBest * (options.full ? 60 : 20)));
  const t = await engine.throughput(texts.slice(0, n), batch);
  const single = await engine.singleLatency(texts.slice(100, 100 + options.profile.single));
  engine.stop();
  const rate = `${t.textsPerSecond.toFixed(2)} texts/s at batch sizes ${JSON.stringify(batch)}`;
  log(`raw: ${rate}; single p50 ${single.p50.toFixed(0)} ms`);
  return { textsPerSecond: t.textsPerSecond, paddingEfficiency: t.paddingEfficiency, single, batch };
}

function packageVersion(name: string): string {
  return JSON.parse(readFileSync(join(import.meta.dir, "..", "node_modules", name, "package.json"), "utf8")).version;
}

function versions(): Record<string, string> {
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
  return {
    bun: Bun.version,
    "onnxruntime-node": packageVersion("onnxruntime-node"),
    "@huggingface/transformers": packageVersion("@huggingface/transformers"),
    commit,
  };
}

/** Runs the benchmark and writes its report; the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (!options) {
    console.error(USAGE);
    return 2;
  }
  const texts = loadTexts("graders", SHARED, 20_000, 1);
  const store = readStore(options.engines);
  const limitTexts = [
    { source: "graders" as const, texts },
    { source: "tweets" as const, texts: loadTexts("tweets", SHARED) },
  ];
  const bench: Bench = { options, texts, models: store.models.map((m) => m.record), limitTexts };
  const { lengths, graders } = await tokenLengths(store);
  const roofline = await rooflineInputs(bench.models, graders);
  // Measured before any peer starts, as the roofline's GEMM rate: nothing else on the cores.
  const limits = options.peers.has("limit")
    ? await measureEqualLengthLimit(options.engines, limitTexts, limitOptions(options.full))
    : [];
  for (const l of limits) log(`equal-length limit, ${describeLimit(l)}`);
  const http = await measureHttpPeers(bench);
  const service = http.runs.find((r) => r.peer === "service");
  const raw = options.peers.has("raw") ? await measureRaw(bench, http.saturationBatch, service) : null;

  const date = new Date().toISOString().slice(0, 10);
  const result: BenchResult = {
    date,
    machine: options.machine,
    profileName: options.profileName,
    cmdLine: `bun run bench ${argv.join(" ")}`,
    host: { cpu: cpus()[0]?.model ?? "?", cores: availableParallelism(), memoryBytes: totalmem() },
    versions: versions(),
    models: bench.models,
    engines: options.engines,
    texts: texts.length,
    profile: options.profile,
    rateScale: http.rateScale,
    runs: http.runs,
    raw,
    lengths,
    labelsAgree: labelsAgree(http.answers.service, http.answers.naive),
    instance: options.instance,
    pricePerHour: options.pricePerHour,
    roofline,
    limits: limits.length
      ? limits.map((limit): LimitRun => ({ limit, service: http.limitRuns.get(limit.source as Source) ?? null }))
      : undefined,
  };
  const base = options.out ?? join(import.meta.dir, "results", `${date}-${options.machine}`);
  await writeReport(base, result);
  log(`report: ${base}.md`);
  console.log(headline(result));
  return 0;
}

// Exit explicitly, as the script always has: a handle left open must not keep a finished run alive.
if (import.meta.main) process.exit(await main(process.argv.slice(2)));
