/**
 * The benchmark: the service, the naive transformers.js peer and the raw engine, on the same models
 * and machine, in one run. `bun run bench --engines DIR` (short, a few minutes) or `--profile full`.
 * See README "Benchmarks". Writes bench/results/<date>-<machine>.md and .svg.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, hostname, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readStore } from "../lib/store/index.ts";
import { FamilyTokenizer } from "../app/tokenize/family-tokenizer.ts";
import { scrape, sample } from "../testkit/metrics.ts";
import { waitFor } from "../testkit/wait.ts";
import { scalePlan } from "./lib/arrival.ts";
import { closedLoop } from "./closed-loop.ts";
import { arrivalLoad, rssMb, type LoadStats } from "./lib/load.ts";
import { GRADERS } from "./lib/scenarios.ts";
import { lengthSummary, loadTexts, SOURCES } from "./lib/texts.ts";
import { startRawEngine } from "./peers/raw.ts";
import { svgChart } from "./lib/chart.ts";

const PRICES = { "g4dn.2xlarge": 0.752, "c7i.2xlarge": 0.357 }; // USD/h, on-demand, us-east-1 list prices (check before relying on them)

const { values } = parseArgs({
  options: {
    engines: { type: "string", default: process.env.BENCH_ENGINES },
    profile: { type: "string", default: "short" },
    "time-scale": { type: "string" },
    "rate-scale": { type: "string" },
    "price-per-hour": { type: "string" },
    instance: { type: "string", default: "c7i.2xlarge" },
    machine: { type: "string", default: hostname().split(".")[0] },
    out: { type: "string" },
    peers: { type: "string", default: "service,naive,raw" },
  },
});
if (!values.engines) {
  console.error("usage: bun run bench --engines DIR [--profile short|full] [--time-scale X] [--rate-scale X] [--price-per-hour USD] [--peers service,naive,raw]\n(full-size random models: bun bench/make-engines.ts --size full DIR)");
  process.exit(2);
}
const full = values.profile === "full";
const P = {
  sweep: full ? [1, 2, 4, 10, 16, 32] : [1, 4, 10],
  sweepSeconds: full ? 30 : 12,
  timeScale: Number(values["time-scale"] ?? (full ? 1 : 0.1)),
  single: full ? 100 : 30,
};
const engines = resolve(values.engines);
const shared = process.env.SHARED_DIR ?? join(import.meta.dir, "..", "..", "shared");
const peers = new Set(values.peers!.split(","));
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
const texts = loadTexts("graders", shared, 20_000, 1);
/** The texts from `offset` on, wrapping: each phase starts elsewhere in the same stream. */
const from = (offset: number) => [...texts.slice(offset % texts.length), ...texts.slice(0, offset % texts.length)];

// ---------- token lengths per source and family ----------
const store = readStore(engines);
const infos = store.models.map((m) => m.record);
const lengths = store.families.map((f) => {
  const tok = FamilyTokenizer.load(f.id, f.dir, 1_000_000);
  return { family: f.id, sources: SOURCES.map((s) => ({ source: s, ...lengthSummary(loadTexts(s, shared, 2000, 1).slice(0, 2000).map((t) => tok.encode(t).length)) })) };
});

// ---------- peers over HTTP ----------
interface PeerRun {
  peer: string;
  sweep: (LoadStats & { clients: number })[];
  scenarios: (LoadStats & { name: string })[];
  rssMaxMb: number;
  batch?: Record<string, number>;
  padding?: number;
}

async function startServer(peer: "service" | "naive") {
  const port = peer === "service" ? 8310 : 8311;
  const cmd = peer === "service" ? ["bun", "app/index.ts"] : ["bun", "bench/peers/naive-server.ts", "--engines", engines, "--port", String(port)];
  const proc = Bun.spawn(cmd, { cwd: join(import.meta.dir, ".."), env: { ...process.env, ENGINES_DIR: engines, PORT: String(port), HOST: "127.0.0.1", AUTO_CONVERT: "false", LOG_SAMPLE: "0", LOG_LEVEL: "warn" }, stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200, `${peer} to be ready`, 600_000);
  let rssMax = 0;
  const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMb(proc.pid))), 1000);
  return { url, stop: async () => (clearInterval(rssTimer), proc.kill("SIGTERM"), await proc.exited), rss: () => rssMax };
}

const meanBatch = (before: string, after: string) =>
  Object.fromEntries(infos.map((i) => [i.key, (sample(after, "classifier_batch_size_sum", { model: i.key }) - sample(before, "classifier_batch_size_sum", { model: i.key })) / Math.max(1, sample(after, "classifier_batch_size_count", { model: i.key }) - sample(before, "classifier_batch_size_count", { model: i.key }))]));

let rateScale = values["rate-scale"] ? Number(values["rate-scale"]) : NaN;
const runs: PeerRun[] = [];
const answers: Record<string, unknown[]> = {};
let saturationBatch: Record<string, number> = {};
for (const peer of ["service", "naive"] as const) {
  if (!peers.has(peer)) continue;
  log(`${peer}: starting`);
  const s = await startServer(peer);
  answers[peer] = await Promise.all(texts.slice(0, 20).map(async (t) => (await fetch(`${s.url}/process`, { method: "POST", body: JSON.stringify(t), headers: { "content-type": "application/json" } })).json()));
  const run: PeerRun = { peer, sweep: [], scenarios: [], rssMaxMb: 0 };
  for (const clients of P.sweep) {
    // The batch sizes at the last (highest) step are the ones the raw engine is fed.
    const atSaturation = peer === "service" && clients === Math.max(...P.sweep);
    const before = atSaturation ? await scrape(s.url) : "";
    const r = await closedLoop(s.url, clients, P.sweepSeconds, from(clients * 997));
    run.sweep.push(r);
    if (atSaturation) saturationBatch = meanBatch(before, await scrape(s.url));
    log(`${peer}: ${clients} clients → ${r.rps.toFixed(2)} req/s, p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms, ${r.failures} failures`);
  }
  // Rates sized so highload's 60 req/s lands at the service's own saturation throughput on this box.
  if (Number.isNaN(rateScale)) rateScale = Math.max(...run.sweep.map((x) => x.rps)) / 60;
  for (const sc of GRADERS) {
    const before = peer === "service" ? await scrape(s.url) : "";
    let r: LoadStats;
    if (sc.kind === "closed") r = await closedLoop(s.url, sc.clients, sc.durationS * P.timeScale, from(5000));
    else {
      // 1 req/s is 1 req/s on any box: only the ramps are rate-scaled.
      const plan = scalePlan(sc.plan, P.timeScale, sc.name === "does_it_even_work" ? 1 : rateScale);
      r = await arrivalLoad(s.url, plan, from(9000));
    }
    run.scenarios.push({ ...r, name: sc.name });
    if (peer === "service") run.batch = { ...(run.batch ?? {}), [sc.name]: Object.values(meanBatch(before, await scrape(s.url))).reduce((a, b) => a + b, 0) / infos.length };
    log(`${peer}: ${sc.name} → ${r.requests} requests, ${r.failures} failures, ${r.dropped} dropped, p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms`);
  }
  if (peer === "service") {
    const m = await scrape(s.url);
    run.padding = infos.reduce((n, i) => n + sample(m, "classifier_padding_efficiency_ratio", { model: i.key }), 0) / infos.length;
  }
  run.rssMaxMb = s.rss();
  await s.stop();
  runs.push(run);
}

// ---------- raw engine ----------
let raw: { textsPerSecond: number; paddingEfficiency: number; single: { p50: number; p95: number; mean: number }; batch: Record<string, number> } | null = null;
if (peers.has("raw")) {
  log("raw: starting");
  const intra = Math.max(1, Math.floor(availableParallelism() / infos.length));
  const engine = await startRawEngine(engines, intra);
  const batch = Object.keys(saturationBatch).length ? saturationBatch : Object.fromEntries(infos.map((i) => [i.key, 8]));
  const serviceBest = runs.find((r) => r.peer === "service")?.sweep.reduce((a, b) => Math.max(a, b.rps), 0) ?? 5;
  const n = Math.max(50, Math.round(serviceBest * (full ? 60 : 20)));
  const t = await engine.throughput(texts.slice(0, n), batch);
  const single = await engine.singleLatency(texts.slice(100, 100 + P.single));
  engine.stop();
  raw = { textsPerSecond: t.textsPerSecond, paddingEfficiency: t.paddingEfficiency, single, batch };
  log(`raw: ${t.textsPerSecond.toFixed(2)} texts/s at batch sizes ${JSON.stringify(batch)}; single p50 ${single.p50.toFixed(0)} ms`);
}

// ---------- report ----------
const svc = runs.find((r) => r.peer === "service");
const naive = runs.find((r) => r.peer === "naive");
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const bestSvc = svc ? Math.max(...svc.sweep.map((x) => x.rps)) : NaN;
const svc10 = svc?.sweep.find((x) => x.clients === 10)?.rps ?? NaN;
const naive10 = naive?.sweep.find((x) => x.clients === 10)?.rps ?? NaN;
const p50at1 = svc?.scenarios.find((x) => x.name === "does_it_even_work")?.p50 ?? NaN;
const price = Number(values["price-per-hour"] ?? PRICES[values.instance as keyof typeof PRICES] ?? PRICES["c7i.2xlarge"]);
const perMillion = (rps: number, usdPerHour: number) => (usdPerHour / (rps * 3600)) * 1e6;
const goals = [
  ["service ≥ 0.9 × raw-engine throughput at saturation", bestSvc / (raw?.textsPerSecond ?? NaN), 0.9],
  ["service ≥ 2 × naive at 10 closed-loop clients", svc10 / naive10, 2],
  ["p50 at 1 req/s ≤ 1.15 × raw single-request latency", (raw?.single.p50 ?? NaN) / p50at1, 1 / 1.15],
  ["padding efficiency ≥ 0.85", svc?.padding ?? NaN, 0.85],
] as const;
const date = new Date().toISOString().slice(0, 10);
const base = values.out ?? join(import.meta.dir, "results", `${date}-${values.machine}`);
const cmdLine = `bun run bench ${process.argv.slice(2).join(" ")}`;
const versions = { bun: Bun.version, "onnxruntime-node": JSON.parse(readFileSync(join(import.meta.dir, "..", "node_modules", "onnxruntime-node", "package.json"), "utf8")).version, "@huggingface/transformers": JSON.parse(readFileSync(join(import.meta.dir, "..", "node_modules", "@huggingface", "transformers", "package.json"), "utf8")).version, commit: Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim() };
const agree = answers.service && answers.naive ? answers.service.filter((a, i) => Object.keys(a as object).every((k) => (a as Record<string, { label: string }>)[k].label === (answers.naive[i] as Record<string, { label: string }>)[k]?.label)).length : NaN;

const md = `# Benchmark ${date} on ${values.machine} (${values.profile})

Command: \`${cmdLine}\`  
Machine: ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; versions ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")}.  
Models: ${infos.map((i) => `${i.key} (${i.architecture}, ${(i.parameters.total / 1e6).toFixed(0)} M parameters${i.parameters.total < 1e7 ? ", TINY" : ""})`).join("; ")}; engines \`${engines}\`. Random weights with real dimensions cost what the real ones do.  
Texts: the graders' generator (seed 1, ${texts.length} texts). Peers run one after another on the same box, the load generator on the same 2 cores.  
Time scale ${P.timeScale}, rate scale ${f(rateScale, 3)} (highload's 60 req/s → ${f(60 * rateScale, 2)} req/s: the service's saturation on this box); does_it_even_work stays at 1 req/s.

## Saturation sweep (closed loop, ${P.sweepSeconds} s per step)

| peer | clients | req/s | p50 ms | p95 ms | p99 ms | failures |
|---|---|---|---|---|---|---|
${runs.flatMap((r) => r.sweep.map((x) => `| ${r.peer} | ${x.clients} | ${f(x.rps, 2)} | ${f(x.p50, 0)} | ${f(x.p95, 0)} | ${f(x.p99, 0)} | ${x.failures} |`)).join("\n")}
${raw ? `| raw engine | – | ${f(raw.textsPerSecond, 2)} | – | – | – | – |` : ""}

## The graders' scenarios

| peer | scenario | requests | failures | dropped | req/s | peak req/s | p50 ms | p95 ms | p99 ms | mean ms | mean batch |
|---|---|---|---|---|---|---|---|---|---|---|---|
${runs.flatMap((r) => r.scenarios.map((x) => `| ${r.peer} | ${x.name} | ${x.requests} | ${x.failures} | ${x.dropped} | ${f(x.rps, 2)} | ${f(x.peakRps, 0)} | ${f(x.p50, 0)} | ${f(x.p95, 0)} | ${f(x.p99, 0)} | ${f(x.mean, 0)} | ${r.batch ? f(r.batch[x.name], 2) : "1"} |`)).join("\n")}

RSS max: ${runs.map((r) => `${r.peer} ${f(r.rssMaxMb, 0)} MB`).join(", ")}.  
Service padding efficiency (real ÷ padded tokens, mean over models, whole run): ${f(svc?.padding ?? NaN, 3)}; raw engine at the service's saturation batch sizes ${raw ? JSON.stringify(Object.fromEntries(Object.entries(raw.batch).map(([k, v]) => [k, Number(v.toFixed(2))]))) : "–"}: ${f(raw?.paddingEfficiency ?? NaN, 3)}.  
Raw single-request latency (tokenize + five models in parallel, no HTTP): p50 ${f(raw?.single.p50 ?? NaN, 0)} ms, p95 ${f(raw?.single.p95 ?? NaN, 0)} ms.  
Service and naive agree on all five labels for ${agree} of the first 20 texts.

## Token lengths (with <s> and </s>, before truncation)

| family | source | texts | mean | p50 | p95 | max | > 512 |
|---|---|---|---|---|---|---|---|
${lengths.flatMap((l) => l.sources.map((s) => `| ${l.family} | ${s.source} | ${s.texts} | ${f(s.mean)} | ${s.p50} | ${s.p95} | ${s.max} | ${s.over512} |`)).join("\n")}

## Cost per million requests (at the service's saturation throughput, ${f(bestSvc, 2)} req/s)

${Object.entries({ ...PRICES, [`--price-per-hour (${values.instance})`]: price }).map(([k, v]) => `- ${k} at $${v}/h: $${f(perMillion(bestSvc, v), 2)} per million, if that instance ran at this box's throughput`).join("\n")}

## Goals

| goal | measured | target | met |
|---|---|---|---|
${goals.map(([g, m, t]) => `| ${g} | ${f(m, 3)} | ${f(t, 3)} | ${m >= t ? "yes" : "**no**"} |`).join("\n")}

![throughput and p95 against offered load](${base.split("/").pop()}.svg)

service ÷ raw = ${f(bestSvc / (raw?.textsPerSecond ?? NaN), 3)}; service ÷ naive (10 clients) = ${f(svc10 / naive10, 3)}
`;
mkdirSync(join(base, ".."), { recursive: true });
writeFileSync(`${base}.md`, md);
writeFileSync(`${base}.svg`, svgChart(runs.map((r) => ({ name: r.peer, points: r.sweep.map((x) => ({ x: x.clients, rps: x.rps, p95: x.p95 })) })), raw?.textsPerSecond));
writeFileSync(`${base}.json`, JSON.stringify({ cmdLine, versions, profile: P, rateScale, runs, raw, lengths }, null, 2));
log(`report: ${base}.md`);
console.log(`service ÷ raw = ${f(bestSvc / (raw?.textsPerSecond ?? NaN), 3)}; service ÷ naive (10 clients) = ${f(svc10 / naive10, 3)}`);
process.exit(0);
