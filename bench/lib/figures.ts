/**
 * The benchmark's figures, drawn from a stored result's JSON: Vega-Lite specs compiled by `vega-lite`
 * and rendered to SVG by `vega`'s headless View (no browser, no canvas), so any stored result can be
 * redrawn (bench/figures.ts). The grammar does axes, ticks, legends and layout; this file only says
 * what is plotted against what, and in which unit.
 */
import { writeFileSync } from "node:fs";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { SimResult } from "../sim/report.ts";
import type { BenchResult } from "./report.ts";

/** What the figures read: the keys a bench run's JSON keeps (older runs have no roofline). */
export type StoredBenchResult = Pick<BenchResult, "runs" | "raw" | "roofline"> & {
  /** The offline batch job's throughput (issue 26): drawn beside the service's when a result has it. */
  batchJob?: { rowsPerSecond: number };
};

const WIDTH = 420;
const HEIGHT = 260;
const PEER_COLORS = ["#1f77b4", "#d62728", "#9467bd", "#8c564b"];
const SOLID = [1, 0];

/** Never scientific notation: plain digits with thousands separators, trailing zeros trimmed. */
const NUMBER = ",~r";

const CONFIG = {
  font: "sans-serif",
  background: "white",
  padding: 12,
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: "normal" as const, grid: true },
  legend: {
    labelFontSize: 12,
    titleFontSize: 12,
    labelLimit: 0,
    orient: "bottom" as const,
    direction: "vertical" as const,
  },
  title: { fontSize: 15, subtitleFontSize: 12, anchor: "start" as const },
  header: { labelFontSize: 13, labelFontWeight: "bold" as const },
};

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "–");

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile({ ...spec, config: CONFIG } as TopLevelSpec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Requests per second the box's GEMM rate allows at the run's FLOPs per request (NaN when not measured). */
function rooflineLimit(r: StoredBenchResult): number {
  if (!r.roofline) return Number.NaN;
  return (r.roofline.gemm.gflops * 1e9) / r.roofline.flopsPerRequest;
}

const best = (run: StoredBenchResult["runs"][number]) => Math.max(...run.sweep.map((x) => x.rps));

/** Closed-loop clients on a log scale, ticked at the sweep's own steps and ending there. */
function clientsAxis(clients: number[]) {
  return {
    field: "clients",
    type: "quantitative",
    scale: { type: "log", base: 2, domain: [clients[0], clients.at(-1)], nice: false },
    axis: { values: clients, format: "d" },
    title: "offered load (closed-loop clients)",
  };
}

/** A horizontal reference across the sweep's clients, as a two-point series. */
interface Reference {
  series: string;
  rps: number;
  dash: number[];
  color: string;
}

/** What each peer is held against: the roofline limit, the raw engine, and the batch job once a result has it. */
function references(r: StoredBenchResult, share: (rps: number) => string): Reference[] {
  const refs: Reference[] = [];
  const limit = rooflineLimit(r);
  if (Number.isFinite(limit))
    refs.push({ series: `roofline limit: ${fixed(limit, 2)} req/s`, rps: limit, dash: [8, 4], color: "#222" });
  if (r.raw) {
    const series = `raw engine (batched, no HTTP): ${fixed(r.raw.textsPerSecond, 2)} texts/s${share(r.raw.textsPerSecond)}`;
    refs.push({ series, rps: r.raw.textsPerSecond, dash: [2, 3], color: "#2ca02c" });
  }
  if (r.batchJob) {
    const series = `batch job: ${fixed(r.batchJob.rowsPerSecond, 2)} rows/s${share(r.batchJob.rowsPerSecond)}`;
    refs.push({ series, rps: r.batchJob.rowsPerSecond, dash: [10, 3, 2, 3], color: "#ff7f0e" });
  }
  return refs;
}

/**
 * (1) Throughput against offered load (closed-loop clients), one line per peer, under the roofline limit
 * (the box's measured GEMM rate ÷ FLOPs per request); each peer's best as a share of it in the legend.
 */
export function throughputFigure(r: StoredBenchResult): Promise<string> {
  const limit = rooflineLimit(r);
  const share = (rps: number) => (Number.isFinite(limit) ? ` = ${fixed((100 * rps) / limit, 1)}% of the limit` : "");
  const peers = r.runs.map((p) => ({ run: p, series: `${p.peer}: best ${fixed(best(p), 2)} req/s${share(best(p))}` }));
  const clients = [...new Set(r.runs.flatMap((p) => p.sweep.map((x) => x.clients)))].sort((a, b) => a - b);
  const refs = references(r, share);
  const values = [
    ...peers.flatMap(({ run, series }) =>
      run.sweep.map((x) => ({ series, clients: x.clients, rps: x.rps, peer: true })),
    ),
    ...refs.flatMap((ref) =>
      [clients[0], clients.at(-1)].map((c) => ({ series: ref.series, clients: c, rps: ref.rps })),
    ),
  ];
  const domain = [...peers.map((p) => p.series), ...refs.map((x) => x.series)];
  const color = {
    field: "series",
    type: "nominal" as const,
    title: null,
    sort: domain,
    // Stroke symbols, so the legend shows each line's dash.
    legend: { symbolType: "stroke", symbolStrokeWidth: 2, symbolSize: 400 },
    scale: {
      domain,
      range: [...peers.map((_, i) => PEER_COLORS[i % PEER_COLORS.length]), ...refs.map((x) => x.color)],
    },
  };
  const strokeDash = { ...color, scale: { domain, range: [...peers.map(() => SOLID), ...refs.map((x) => x.dash)] } };
  return render({
    title: {
      text: "Throughput against offered load",
      subtitle: "lines: peers; dashed: the limits they are measured against",
    },
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    encoding: {
      x: clientsAxis(clients),
      y: { field: "rps", type: "quantitative", axis: { format: NUMBER }, title: "throughput (requests/s)" },
      color,
    },
    layer: [
      { mark: { type: "line", strokeWidth: 2 }, encoding: { strokeDash } },
      { mark: { type: "point", filled: true, size: 50 }, transform: [{ filter: "datum.peer" }] },
    ],
  } as TopLevelSpec);
}

/** Milliseconds below 2 s, seconds from there: a tick reads 0.9 or 5.4, never 5.35e+3. */
function latencyUnit(maxMs: number) {
  return maxMs >= 2000 ? { unit: "s", scale: 1 / 1000 } : { unit: "ms", scale: 1 };
}

/** (2) p50, p95 and p99 latency against offered load, a panel per peer, in ms or s (said in the axis title). */
export function latencyFigure(r: StoredBenchResult): Promise<string> {
  const maxMs = Math.max(0, ...r.runs.flatMap((p) => p.sweep.map((x) => x.p99)).filter(Number.isFinite));
  const { unit, scale } = latencyUnit(maxMs);
  const clients = [...new Set(r.runs.flatMap((p) => p.sweep.map((x) => x.clients)))].sort((a, b) => a - b);
  const values = r.runs.flatMap((p) =>
    p.sweep.flatMap((x) =>
      (["p50", "p95", "p99"] as const).map((q) => ({
        peer: p.peer,
        clients: x.clients,
        percentile: q,
        latency: x[q] * scale,
      })),
    ),
  );
  return render({
    title: { text: "Latency against offered load", subtitle: "each peer on its own latency scale" },
    data: { values: values.filter((v) => Number.isFinite(v.latency)) },
    facet: { column: { field: "peer", type: "nominal", title: null, sort: r.runs.map((p) => p.peer) } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: WIDTH * 0.75,
      height: HEIGHT,
      encoding: {
        x: clientsAxis(clients),
        y: { field: "latency", type: "quantitative", axis: { format: NUMBER }, title: `latency (${unit})` },
        color: {
          field: "percentile",
          type: "nominal",
          title: "percentile",
          scale: { range: ["#1f77b4", "#ff7f0e", "#d62728"] },
        },
      },
      layer: [{ mark: { type: "line", strokeWidth: 2 } }, { mark: { type: "point", filled: true, size: 50 } }],
    },
  } as TopLevelSpec);
}

/**
 * The service's mean batch size against the load it achieved: at each sweep step where the run
 * recorded it (run.ts, from /metrics around the step), in each graders' scenario, and at the sweep's
 * saturation as the raw engine was fed it (older results record only the last two).
 */
function batchPoints(r: StoredBenchResult) {
  const svc = r.runs.find((p) => p.peer === "service");
  const steps = (svc?.sweep ?? [])
    .filter((s) => Number.isFinite(s.meanBatch))
    .map((s) => ({ label: `sweep: ${s.clients} clients`, rps: s.rps, batch: s.meanBatch as number }));
  if (!svc?.batch) return steps.sort((a, b) => a.rps - b.rps);
  const points = svc.scenarios
    .filter((s) => Number.isFinite(svc.batch?.[s.name]))
    .map((s) => ({ label: s.name, rps: s.rps, batch: svc.batch?.[s.name] as number }));
  // The raw engine ran at the batch sizes the service chose at the sweep's most clients (run.ts).
  const saturation = r.raw ? Object.values(r.raw.batch) : [];
  if (saturation.length && steps.length === 0) {
    const top = svc.sweep.reduce((a, b) => (b.clients > a.clients ? b : a));
    const batch = saturation.reduce((a, b) => a + b, 0) / saturation.length;
    points.push({ label: `saturation (${top.clients} clients)`, rps: top.rps, batch });
  }
  return [...steps, ...points].sort((a, b) => a.rps - b.rps);
}

/** Padding efficiency against achieved load at each sweep step, where the run recorded it. */
function paddingPoints(r: StoredBenchResult) {
  const svc = r.runs.find((p) => p.peer === "service");
  return (svc?.sweep ?? [])
    .filter((s) => Number.isFinite(s.padding))
    .map((s) => ({ clients: s.clients, rps: s.rps, efficiency: s.padding as number }));
}

/** Padding efficiency at each sweep step against the load achieved, with the raw engine's as a dashed line. */
function paddingByLoadPanel(points: ReturnType<typeof paddingPoints>, raw: number | undefined) {
  const rule = Number.isFinite(raw) ? [{ source: "raw engine, saturation batches", efficiency: raw as number }] : [];
  return {
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values: points.map((p) => ({ ...p, source: "service, by load" })) },
        mark: { type: "line", point: { filled: true, size: 60 }, strokeWidth: 2 },
        encoding: {
          x: {
            field: "rps",
            type: "quantitative",
            scale: { domainMin: 0 },
            axis: { format: NUMBER },
            title: "achieved load (requests/s)",
          },
          y: {
            field: "efficiency",
            type: "quantitative",
            scale: { domain: [0, 1] },
            axis: { format: ".0%" },
            title: "padding efficiency (real ÷ padded tokens)",
          },
          color: { field: "source", type: "nominal", title: null },
        },
      },
      {
        data: { values: rule },
        mark: { type: "rule", strokeDash: [6, 4], color: "#555" },
        encoding: {
          y: { field: "efficiency", type: "quantitative" },
          color: { field: "source", type: "nominal", title: null },
        },
      },
    ],
  };
}

/**
 * (3) Batching under load: the service's mean batch size (mean over models) against achieved load, and
 * padding efficiency (real ÷ padded tokens) of the service's whole run and of the raw engine's batches.
 */
export function batchingFigure(r: StoredBenchResult): Promise<string> {
  const svc = r.runs.find((p) => p.peer === "service");
  const padding = [
    { source: "service, whole run", efficiency: svc?.padding ?? Number.NaN },
    { source: "raw engine, saturation batches", efficiency: r.raw?.paddingEfficiency ?? Number.NaN },
  ].filter((x) => Number.isFinite(x.efficiency));
  const points = batchPoints(r);
  const batchPanel = {
    width: WIDTH,
    height: HEIGHT,
    data: { values: points },
    encoding: {
      x: {
        field: "rps",
        type: "quantitative",
        scale: { domainMin: 0 },
        axis: { format: NUMBER },
        title: "achieved load (requests/s)",
      },
      y: { field: "batch", type: "quantitative", axis: { format: NUMBER }, title: "mean batch size (rows per run)" },
    },
    layer: [
      { mark: { type: "line", color: "#999" } },
      {
        mark: { type: "point", filled: true, size: 90 },
        // A legend, not labels beside the points: scenarios at nearly the same load would overlap.
        encoding: {
          color: { field: "label", type: "nominal", sort: points.map((p) => p.label), title: "measured during" },
          shape: { field: "label", type: "nominal", sort: points.map((p) => p.label), title: "measured during" },
        },
      },
    ],
  };
  const byLoad = paddingPoints(r);
  const paddingPanel =
    byLoad.length > 0
      ? paddingByLoadPanel(byLoad, r.raw?.paddingEfficiency)
      : {
          width: WIDTH,
          height: 34 * padding.length,
          data: { values: padding },
          encoding: {
            y: { field: "source", type: "nominal", sort: null, axis: { labelLimit: 0 }, title: null },
            x: {
              field: "efficiency",
              type: "quantitative",
              scale: { domain: [0, 1] },
              axis: { format: ".0%" },
              title: "padding efficiency (real ÷ padded tokens)",
            },
          },
          layer: [
            { mark: { type: "bar", color: "#9ecae1" } },
            {
              mark: { type: "text", align: "right", dx: -4, fontSize: 12 },
              encoding: { text: { field: "efficiency", format: ".1%" } },
            },
          ],
        };
  return render({
    title: { text: "Batching under load (service; mean over models)" },
    vconcat: [batchPanel, paddingPanel],
    resolve: { scale: { color: "independent", shape: "independent" } },
  } as TopLevelSpec);
}
/** A scenario's name with its offered load when that is a number of clients, not a rate. */
const scenarioLabel = (s: SimResult["scenarios"][number]) =>
  s.offeredRps === undefined ? `${s.name} (${s.clients} clients)` : s.name;

/**
 * (4) The simulated T4's scenarios: offered and achieved rate against the simulated device's maximum,
 * and the failures and dropped arrivals of each.
 */
export function simT4Figure(r: SimResult): Promise<string> {
  const names = r.scenarios.map(scenarioLabel);
  const rates = r.scenarios.flatMap((s) => [
    ...(s.offeredRps === undefined ? [] : [{ scenario: scenarioLabel(s), measure: "offered", rps: s.offeredRps }]),
    { scenario: scenarioLabel(s), measure: "achieved", rps: s.load.rps },
  ]);
  const losses = r.scenarios.flatMap((s) => [
    { scenario: scenarioLabel(s), kind: "failures", count: s.load.failures },
    { scenario: scenarioLabel(s), kind: "dropped arrivals", count: s.load.dropped },
  ]);
  const y = { field: "scenario", type: "nominal", sort: names, title: null, axis: { labelLimit: 0 } };
  const maximum = r.maximum.requestsPerS;
  const ratePanel = {
    width: WIDTH * 0.75,
    height: 40 * names.length,
    layer: [
      // The maximum first, so the bars' value labels are drawn over it.
      {
        data: { values: [{ rps: maximum }] },
        mark: { type: "rule", strokeDash: [6, 4], color: "#222" },
        encoding: { x: { field: "rps", type: "quantitative" } },
      },
      {
        data: { values: rates },
        encoding: {
          y,
          yOffset: { field: "measure", sort: ["offered", "achieved"] },
          x: { field: "rps", type: "quantitative", axis: { format: NUMBER }, title: "rate (requests/s)" },
          color: {
            field: "measure",
            title: "rate",
            sort: ["offered", "achieved"],
            scale: { range: ["#bbb", "#1f77b4"] },
          },
        },
        layer: [
          { mark: "bar" },
          {
            mark: { type: "text", align: "left", dx: 3, fontSize: 11 },
            encoding: { text: { field: "rps", format: ",.1f" } },
          },
        ],
      },
    ],
  };
  const lossPanel = {
    width: WIDTH * 0.45,
    height: 40 * names.length,
    data: { values: losses },
    encoding: {
      y: { ...y, axis: null },
      yOffset: { field: "kind", sort: ["failures", "dropped arrivals"] },
      x: { field: "count", type: "quantitative", axis: { format: NUMBER }, title: "requests" },
      color: {
        field: "kind",
        title: "lost",
        sort: ["failures", "dropped arrivals"],
        scale: { range: ["#d62728", "#ff9896"] },
      },
    },
    layer: [
      { mark: "bar" },
      {
        mark: { type: "text", align: "left", dx: 3, fontSize: 11 },
        encoding: { text: { field: "count", format: "," } },
      },
    ],
  };
  return render({
    title: {
      text: `${r.device.name}: the graders' scenarios`,
      subtitle: `dashed: the simulated device's maximum, ${fixed(maximum, 1)} requests/s`,
    },
    hconcat: [ratePanel, lossPanel],
    resolve: { scale: { color: "independent" } },
  } as TopLevelSpec);
}

/** The CPU sweep's stored result (bench/studies/cpu-sweep.ts): its raw grid and its service runs, limits as labels. */
export interface CpuSweepResult {
  kind: "cpu-sweep";
  /** In the sweep's order of batch limits. */
  raw: { mix: string; threads: number; limit: string; textsPerSecond: number }[];
  /** Mean over the setting's runs. */
  service: { mix: string; threads: number; limit: string; rps: number }[];
}

/**
 * (5) The CPU sweep: the raw engine's texts/s at each batch limit, a line per text mix and thread count,
 * and the service at saturation at the limits it ran with.
 */
export function cpuSweepFigure(r: CpuSweepResult): Promise<string> {
  const limits = [...new Set(r.raw.map((p) => p.limit))];
  const threads = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;
  const values = [
    ...r.raw.map((p) => ({
      ...p,
      rate: p.textsPerSecond,
      peer: "raw engine",
      line: `${p.mix}, ${threads(p.threads)}`,
    })),
    ...r.service.map((p) => ({ ...p, rate: p.rps, peer: `service at saturation (${threads(p.threads)})` })),
  ];
  return render({
    title: { text: "CPU batch sweep", subtitle: "raw engine: the five models at once, no HTTP" },
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    encoding: {
      x: {
        field: "limit",
        type: "nominal",
        sort: limits,
        axis: { labelAngle: -30, labelLimit: 0 },
        title: "batch limit",
      },
      y: { field: "rate", type: "quantitative", axis: { format: NUMBER }, title: "throughput (texts/s = requests/s)" },
      color: { field: "mix", type: "nominal", title: "texts" },
    },
    layer: [
      {
        transform: [{ filter: "datum.line" }],
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          detail: { field: "line" },
          strokeDash: { field: "threads", type: "nominal", title: "intra-op threads" },
        },
      },
      {
        mark: { type: "point", filled: true, size: 80 },
        encoding: { shape: { field: "peer", type: "nominal", title: null } },
      },
    ],
  } as TopLevelSpec);
}

/** A bench run's figures: the suffix of each file beside the report (<base>-<suffix>.svg) and its caption. */
export const BENCH_FIGURES = {
  throughput: "throughput against offered load, under the roofline limit",
  latency: "p50, p95 and p99 latency against offered load",
  batching: "mean batch size and padding efficiency under load",
} as const;

const DRAW = { throughput: throughputFigure, latency: latencyFigure, batching: batchingFigure };

/** Writes <base>-<suffix>.svg for each bench figure; the files written. */
export async function writeBenchFigures(base: string, r: StoredBenchResult): Promise<string[]> {
  const files = [];
  for (const suffix of Object.keys(BENCH_FIGURES) as (keyof typeof BENCH_FIGURES)[]) {
    files.push(`${base}-${suffix}.svg`);
    writeFileSync(`${base}-${suffix}.svg`, await DRAW[suffix](r));
  }
  return files;
}
