/**
 * The benchmark's report from its measured results: markdown (tables, cost per million, the roofline, the goals),
 * the raw numbers as JSON and the figures as SVG (figures.ts), written as <base>.md, <base>.json and
 * <base>-<figure>.svg. Pure but for writeReport, so a fixed result can be checked without running a load.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { ModelRecord } from "../../lib/store/index.ts";
import { BENCH_FIGURES, writeBenchFigures } from "./figures.ts";
import type { EqualLengthLimit } from "./equal-length-limit.ts";
import type { GemmMeasurement, GemmShape } from "./gemm.ts";
import type { LoadStats } from "./load.ts";
import { roofline } from "./roofline.ts";
import type { lengthSummary, Source } from "./texts.ts";

/** USD per hour, on-demand, us-east-1 list prices (check before relying on them). */
const PRICES = { "g4dn.2xlarge": 0.752, "c7i.2xlarge": 0.357 };

/** `--price-per-hour` if given, else the list price of `--instance` (c7i.2xlarge's for an unknown one). */
export function hourlyPrice(instance: string, override?: string): number {
  return Number(override ?? PRICES[instance as keyof typeof PRICES] ?? PRICES["c7i.2xlarge"]);
}

export const costPerMillion = (rps: number, usdPerHour: number) => (usdPerHour / (rps * 3600)) * 1e6;

/** What one run measures and for how long. */
export interface BenchProfile {
  /** Closed-loop clients at each step of the saturation sweep. */
  sweep: number[];
  sweepSeconds: number;
  /** Stretches the graders' scenarios (0.1: a tenth of their published length). */
  timeScale: number;
  /** Texts sent one at a time to the raw engine for its latency floor. */
  single: number;
}

/** An HTTP peer (service or naive) over the saturation sweep and the graders' scenarios. */
export interface PeerRun {
  peer: string;
  /** Service only, per step: mean batch size and padding efficiency (mean over models) at that load. */
  sweep: (LoadStats & { clients: number; meanBatch?: number; padding?: number })[];
  scenarios: (LoadStats & { name: string })[];
  rssMaxMb: number;
  /** Service only: mean batch size per scenario, mean over models. */
  batch?: Record<string, number>;
  /** Service only: real ÷ padded tokens over the whole run, mean over models. */
  padding?: number;
}

/** The raw engine: throughput at the service's saturation batch sizes, and one-text latency. */
export interface RawRun {
  textsPerSecond: number;
  paddingEfficiency: number;
  single: { p50: number; p95: number; mean: number };
  batch: Record<string, number>;
}

/** Token lengths of each text source under one tokenizer family. */
export interface TokenLengths {
  family: string;
  sources: ({ source: Source } & ReturnType<typeof lengthSummary>)[];
}

export interface BenchResult {
  /** YYYY-MM-DD. */
  date: string;
  machine: string;
  profileName: string;
  cmdLine: string;
  host: { cpu: string; cores: number; memoryBytes: number };
  versions: Record<string, string>;
  models: Pick<ModelRecord, "key" | "architecture" | "parameters">[];
  engines: string;
  /** How many of the graders' generated texts the run cycles through. */
  texts: number;
  profile: BenchProfile;
  rateScale: number;
  runs: PeerRun[];
  raw: RawRun | null;
  lengths: TokenLengths[];
  /** Of the first 20 texts, how many got the same five labels from service and naive (NaN unless both ran). */
  labelsAgree: number;
  instance: string;
  pricePerHour: number;
  /** The box's GEMM rate measured at the start of the run and the FLOPs one request costs (absent in older runs). */
  roofline?: RooflineInputs;
  /** The service against the equal-length limit on each text set, measured in the run (absent in older runs). */
  limits?: LimitRun[];
}

/** The service against the equal-length limit (bench/lib/equal-length-limit.ts) on one text set. */
export interface LimitRun {
  limit: EqualLengthLimit;
  /** The service on the same texts: closed loop at `clients` (rate, batches, padding) and at 1 client (p50); null if it did not run. */
  service: { clients: number; rps: number; meanBatch: number; padding: number; p50At1: number } | null;
}

/** What the roofline section compares each peer with. */
export interface RooflineInputs {
  gemm: GemmMeasurement;
  /** Mean over `texts` graders' texts of the FLOPs of one text through every served model (flops.ts). */
  flopsPerRequest: number;
  texts: number;
}

/** Fixed digits, or "–" for a number that was not measured. */
const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "–");

/** The numbers the goals and the headline compare. */
function comparisons(r: BenchResult) {
  const svc = r.runs.find((x) => x.peer === "service");
  const naive = r.runs.find((x) => x.peer === "naive");
  return {
    svc,
    bestSvc: svc ? Math.max(...svc.sweep.map((x) => x.rps)) : NaN,
    svc10: svc?.sweep.find((x) => x.clients === 10)?.rps ?? NaN,
    naive10: naive?.sweep.find((x) => x.clients === 10)?.rps ?? NaN,
    p50at1: svc?.scenarios.find((x) => x.name === "does_it_even_work")?.p50 ?? NaN,
  };
}

export interface Goal {
  goal: string;
  measured: number;
  /** Met when measured ≥ target. */
  target: number;
}

export function goals(r: BenchResult): Goal[] {
  const { svc, bestSvc, svc10, naive10, p50at1 } = comparisons(r);
  const rawRate = r.raw?.textsPerSecond ?? NaN;
  const rawP50 = r.raw?.single.p50 ?? NaN;
  return [
    { goal: "service ≥ 0.9 × raw-engine throughput at saturation", measured: bestSvc / rawRate, target: 0.9 },
    { goal: "service ≥ 2 × naive at 10 closed-loop clients", measured: svc10 / naive10, target: 2 },
    { goal: "p50 at 1 req/s ≤ 1.15 × raw single-request latency", measured: rawP50 / p50at1, target: 1 / 1.15 },
    { goal: "padding efficiency ≥ 0.85", measured: svc?.padding ?? NaN, target: 0.85 },
    ...(r.limits ?? []).map((l) => ({
      goal: `service ≥ ${LIMIT_GOAL} × the equal-length limit on ${l.limit.source} (${l.service?.clients ?? "–"} clients)`,
      measured: ofLimit(l),
      target: LIMIT_GOAL,
    })),
  ];
}

/** Issue 25: the service at this share of the equal-length limit, on every text set. */
const LIMIT_GOAL = 0.9;

/** The service's closed-loop rate ÷ the equal-length limit on the same texts (NaN if the service did not run). */
const ofLimit = (l: LimitRun) => (l.service?.rps ?? Number.NaN) / l.limit.requestsPerSecond;

/** The last line of the report, also printed at the end of a run. */
export function headline(r: BenchResult): string {
  const { bestSvc, svc10, naive10 } = comparisons(r);
  const ofRaw = fmt(bestSvc / (r.raw?.textsPerSecond ?? NaN), 3);
  const limits = (r.limits ?? []).map((l) => `${l.limit.source} ${fmt(ofLimit(l), 3)}`);
  const ofLimits = limits.length ? `; service ÷ equal-length limit: ${limits.join(", ")}` : "";
  return `service ÷ raw = ${ofRaw}; service ÷ naive (10 clients) = ${fmt(svc10 / naive10, 3)}${ofLimits}`;
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
/** A table's header and separator lines. */
const tableHead = (columns: string[]) => [row(columns), `|${columns.map(() => "---").join("|")}|`];

// Markdown line breaks: two trailing spaces.
const BR = "  ";

function setup(r: BenchResult): string {
  const versions = Object.entries(r.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const model = (m: BenchResult["models"][number]) => {
    const size = `${(m.parameters.total / 1e6).toFixed(0)} M parameters${m.parameters.total < 1e7 ? ", TINY" : ""}`;
    return `${m.key} (${m.architecture}, ${size})`;
  };
  const memoryGiB = (r.host.memoryBytes / 2 ** 30).toFixed(0);
  return [
    `# Benchmark ${r.date} on ${r.machine} (${r.profileName})`,
    "",
    `Command: \`${r.cmdLine}\`${BR}`,
    `Machine: ${r.host.cpu}, ${r.host.cores} cores, ${memoryGiB} GiB; versions ${versions}.${BR}`,
    `Models: ${r.models.map(model).join("; ")}; engines \`${r.engines}\`. ` +
      `Random weights with real dimensions cost what the real ones do.${BR}`,
    `Texts: the graders' generator (seed 1, ${r.texts} texts). ` +
      `Peers run one after another on the same box, the load generator on the same 2 cores.${BR}`,
    `Time scale ${r.profile.timeScale}, rate scale ${fmt(r.rateScale, 3)} ` +
      `(highload's 60 req/s → ${fmt(60 * r.rateScale, 2)} req/s: the service's saturation on this box); ` +
      "does_it_even_work stays at 1 req/s.",
  ].join("\n");
}

function sweepTable(r: BenchResult): string {
  const rows = r.runs.flatMap((p) =>
    p.sweep.map((x) => {
      const latency = [x.p50, x.p95, x.p99].map((ms) => fmt(ms, 0));
      return row([p.peer, x.clients, fmt(x.rps, 2), ...latency, x.failures]);
    }),
  );
  return [
    `## Saturation sweep (closed loop, ${r.profile.sweepSeconds} s per step)`,
    "",
    ...tableHead(["peer", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"]),
    rows.join("\n"),
    // Without a raw run the line stays, empty, as reports have always had it.
    r.raw ? row(["raw engine", "–", fmt(r.raw.textsPerSecond, 2), "–", "–", "–", "–"]) : "",
  ].join("\n");
}

function scenarioTable(r: BenchResult): string {
  const { svc } = comparisons(r);
  const columns = ["peer", "scenario", "requests", "failures", "dropped", "req/s", "peak req/s", "p50 ms", "p95 ms"];
  columns.push("p99 ms", "mean ms", "mean batch");
  const rows = r.runs.flatMap((p) =>
    p.scenarios.map((x) => {
      const latency = [x.p50, x.p95, x.p99, x.mean].map((ms) => fmt(ms, 0));
      const batch = p.batch ? fmt(p.batch[x.name], 2) : "1";
      const counts = [x.requests, x.failures, x.dropped];
      return row([p.peer, x.name, ...counts, fmt(x.rps, 2), fmt(x.peakRps, 0), ...latency, batch]);
    }),
  );
  const rawBatch = r.raw
    ? JSON.stringify(Object.fromEntries(Object.entries(r.raw.batch).map(([k, v]) => [k, Number(v.toFixed(2))])))
    : "–";
  return [
    "## The graders' scenarios",
    "",
    ...tableHead(columns),
    rows.join("\n"),
    "",
    `RSS max: ${r.runs.map((p) => `${p.peer} ${fmt(p.rssMaxMb, 0)} MB`).join(", ")}.${BR}`,
    "Service padding efficiency (real ÷ padded tokens, mean over models, whole run): " +
      `${fmt(svc?.padding ?? NaN, 3)}; raw engine at the service's saturation batch sizes ${rawBatch}: ` +
      `${fmt(r.raw?.paddingEfficiency ?? NaN, 3)}.${BR}`,
    "Raw single-request latency (tokenize + five models in parallel, no HTTP): " +
      `p50 ${fmt(r.raw?.single.p50 ?? NaN, 0)} ms, p95 ${fmt(r.raw?.single.p95 ?? NaN, 0)} ms.${BR}`,
    `Service and naive agree on all five labels for ${r.labelsAgree} of the first 20 texts.`,
  ].join("\n");
}

function lengthTable(r: BenchResult): string {
  const rows = r.lengths.flatMap((l) =>
    l.sources.map((s) => row([l.family, s.source, s.texts, fmt(s.mean), s.p50, s.p95, s.max, s.over512])),
  );
  return [
    "## Token lengths (with <s> and </s>, before truncation)",
    "",
    ...tableHead(["family", "source", "texts", "mean", "p50", "p95", "max", "> 512"]),
    rows.join("\n"),
  ].join("\n");
}

function costSection(r: BenchResult): string {
  const { bestSvc } = comparisons(r);
  const prices = { ...PRICES, [`--price-per-hour (${r.instance})`]: r.pricePerHour };
  const lines = Object.entries(prices).map(([instance, usd]) => {
    const cost = fmt(costPerMillion(bestSvc, usd), 2);
    return `- ${instance} at $${usd}/h: $${cost} per million, if that instance ran at this box's throughput`;
  });
  const title = `## Cost per million requests (at the service's saturation throughput, ${fmt(bestSvc, 2)} req/s)`;
  return [title, "", ...lines].join("\n");
}

function rooflineSection(r: BenchResult): string {
  const title = "## Roofline (achieved FLOP rate ÷ the box's measured GEMM rate)";
  if (!r.roofline) return `${title}\n\nNot measured in this run.`;
  const { gemm, flopsPerRequest, texts } = r.roofline;
  const peers = [
    ...r.runs.map((p) => ({ peer: p.peer, rate: Math.max(...p.sweep.map((x) => x.rps)), unit: "req/s" })),
    ...(r.raw ? [{ peer: "raw engine", rate: r.raw.textsPerSecond, unit: "texts/s" }] : []),
  ];
  const lines = peers.map(
    (p) => `- ${p.peer} at ${fmt(p.rate, 2)} ${p.unit}: ${roofline(p.rate, flopsPerRequest, gemm.gflops).line}`,
  );
  const layout = (s: GemmShape) => (s.sessions > 1 ? ` (${s.sessions} × 1 thread)` : ` (1 × ${s.threads} threads)`);
  const shapes = gemm.shapes
    .map((s) => `[${s.tokens}, ${s.k}] × [${s.k}, ${s.n}]${layout(s)} ${fmt(s.gflops, 0)}`)
    .join(", ");
  return [
    title,
    "",
    `FLOPs per request: ${fmt(flopsPerRequest / 1e9, 2)} GFLOP (one text through the ${r.models.length} served models, ` +
      `mean over ${texts} of the graders' texts at their own token counts, each cut at its model's maximum).${BR}`,
    `GEMM rate: ${fmt(gemm.gflops, 1)} GFLOP/s, the best of FP32 MatMul through onnxruntime-node on ` +
      `${gemm.threads} cores (one session with a thread per core, and one-thread sessions side by side), ` +
      `measured at the start of the run (GFLOP/s: ${shapes}).`,
    "",
    ...lines,
    "",
    "**How to read the roofline.** A peer's achieved rate is its best throughput times the useful FLOPs of one " +
      "request, the encoder's matrix products and attention at each text's own length (bench/lib/flops.ts); " +
      "padding, biases, layer norms, softmax, tokenization and HTTP count for nothing, so what they cost lowers " +
      "the percentage. The limit is what this box's onnxruntime does on large FP32 matrix products with all " +
      "cores, not a datasheet peak. Near 100%, only fewer FLOPs (shorter inputs, a smaller model, lower " +
      "precision) or a faster box help; well below, time goes elsewhere (padding, small products, threads " +
      "contending for the cores, queues). The gap between service and raw engine is the service's own; the gap " +
      "between raw engine and 100% is the engine's.",
  ].join("\n");
}

function limitSection(r: BenchResult): string {
  const title = "## Service ÷ the equal-length limit";
  if (!r.limits?.length) return `${title}\n\nNot measured in this run.`;
  const clients = r.limits.find((l) => l.service)?.service?.clients ?? "–";
  const rows = r.limits.map(({ limit, service: s }) => {
    const measured = s
      ? [
          fmt(s.rps, 2),
          fmt(ofLimit({ limit, service: s }), 3),
          fmt(s.padding, 3),
          fmt(s.meanBatch, 2),
          fmt(s.p50At1, 0),
        ]
      : ["–", "–", "–", "–", "–"];
    return row([limit.source, fmt(limit.requestsPerSecond, 2), ...measured]);
  });
  const rates = r.limits.map(({ limit }) => {
    const models = limit.models.map((m) => `${m.key} ${fmt(m.best.rowsPerSecond, 1)} rows/s (batch ${m.best.batch})`);
    return `- ${limit.source}: ${models.join(", ")}`;
  });
  const columns = ["texts", "limit req/s", `service req/s (${clients} clients)`, "÷ limit", "padding eff."];
  return [
    title,
    "",
    "The limit the hardware allows: each model's best rows/s in one single-thread onnxruntime session alone, on " +
      "batches of equal-length rows (no padding) at the texts' own token lengths; then cores ÷ Σ over the models " +
      `of 1 ÷ that rate (bench/lib/equal-length-limit.ts), on ${r.limits[0].limit.cores} cores, measured in this ` +
      `run before the peers. The service: a closed loop of ${clients} clients on the same texts, and one client for p50.`,
    "",
    ...tableHead([...columns, "mean rows/batch", "p50 ms at 1 client"]),
    ...rows,
    "",
    "Each model's best rate on equal-length rows:",
    "",
    ...rates,
  ].join("\n");
}

function goalTable(r: BenchResult): string {
  const met = (g: Goal) => (g.measured >= g.target ? "yes" : "**no**");
  const rows = goals(r).map((g) => row([g.goal, fmt(g.measured, 3), fmt(g.target, 3), met(g)]));
  return ["## Goals", "", ...tableHead(["goal", "measured", "target", "met"]), ...rows].join("\n");
}

/** Each figure embedded by its file's name beside the report (<figureBase>-<figure>.svg). */
function figureSection(figureBase: string): string {
  const figures = Object.entries(BENCH_FIGURES).map(
    ([suffix, caption]) => `![${caption}](${figureBase}-${suffix}.svg)`,
  );
  return ["## Figures", "", ...figures.flatMap((f) => [f, ""])].join("\n").trimEnd();
}

/** The report; `figureBase` names its figures beside it (the report's own base name). */
export function reportMarkdown(r: BenchResult, figureBase: string): string {
  const sections = [
    setup(r),
    sweepTable(r),
    scenarioTable(r),
    lengthTable(r),
    costSection(r),
    rooflineSection(r),
    limitSection(r),
    goalTable(r),
    figureSection(figureBase),
    headline(r),
  ];
  return `${sections.join("\n\n")}\n`;
}

/** The raw numbers, for comparing runs. */
function reportJson(r: BenchResult): string {
  const { cmdLine, versions, profile, rateScale, runs, raw, lengths } = r;
  // No roofline in a run from before it was measured: the key is left out, as older files have it.
  const json = { cmdLine, versions, profile, rateScale, runs, raw, lengths, roofline: r.roofline, limits: r.limits };
  return JSON.stringify(json, null, 2);
}

/** Writes <base>.md, <base>.json and the figures the markdown embeds. */
export async function writeReport(base: string, r: BenchResult) {
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(`${base}.md`, reportMarkdown(r, basename(base)));
  writeFileSync(`${base}.json`, reportJson(r));
  await writeBenchFigures(base, r);
}
