/**
 * The figures rendered by vega from stored results (a real bench run's JSON in bench/results, and a
 * simulated-T4 result whose numbers are those of the 2026-11-30 performance report): each SVG names
 * its axes, its series and its limits as text; no pixels are compared.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import type { SimResult } from "../sim/report.ts";
import {
  batchingFigure,
  type CpuSweepResult,
  cpuSweepFigure,
  latencyFigure,
  simT4Figure,
  type StoredBenchResult,
  throughputFigure,
} from "./figures.ts";

// Each render compiles a spec and lays it out: a second or so on a busy 2-core box.
setDefaultTimeout(30_000);

const RESULTS = join(import.meta.dir, "..", "results");
const read = <T>(file: string): T => JSON.parse(readFileSync(file, "utf8"));
/** A run with the roofline measured (service, naive, raw engine; sweep 1, 4, 10 clients). */
const WITH_ROOFLINE = read<StoredBenchResult>(join(RESULTS, "2026-12-03-vm.json"));
/** A run that recorded padding for the whole run only (roofline measured; sweep 1, 4, 10 clients). */
const WHOLE_RUN_PADDING = read<StoredBenchResult>(join(RESULTS, "2026-11-30-node-2core.json"));
/** An older run: no roofline, sweep 1..32 clients. */
const OLDER = read<StoredBenchResult>(join(RESULTS, "2026-11-21-node-2core.json"));
const SIM_T4 = read<SimResult>(join(import.meta.dir, "figures.sim-t4.json"));
/** The CPU sweep of the same report (section 1): raw grid and service runs, one thread. */
const CPU_SWEEP = read<CpuSweepResult>(join(import.meta.dir, "figures.cpu-sweep.json"));

/** Every text the SVG draws, entities decoded. */
function texts(svg: string): string[] {
  const decode = (s: string) => s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => decode(m[1]));
}

/** A number in scientific notation, as the hand-drawn chart's 5.35e+3. */
const SCIENTIFIC = /\d[eE][+-]?\d/;

const bestRps = (r: StoredBenchResult, peer: string) =>
  Math.max(...(r.runs.find((p) => p.peer === peer)?.sweep.map((x) => x.rps) ?? []));

describe("throughput figure", () => {
  test("names its axes, each peer with its best as a share of the roofline limit, and the limit itself", async () => {
    const drawn = texts(await throughputFigure(WITH_ROOFLINE));
    const roofline = WITH_ROOFLINE.roofline!;
    const limit = (roofline.gemm.gflops * 1e9) / roofline.flopsPerRequest;
    expect(drawn).toContain("offered load (closed-loop clients)");
    expect(drawn).toContain("throughput (requests/s)");
    expect(drawn).toContain(`roofline limit: ${limit.toFixed(2)} req/s`);
    for (const peer of ["service", "naive"]) {
      const best = bestRps(WITH_ROOFLINE, peer);
      expect(drawn).toContain(
        `${peer}: best ${best.toFixed(2)} req/s = ${((100 * best) / limit).toFixed(1)}% of the limit`,
      );
    }
    const raw = WITH_ROOFLINE.raw!.textsPerSecond;
    expect(drawn).toContain(
      `raw engine (batched, no HTTP): ${raw.toFixed(2)} texts/s = ${((100 * raw) / limit).toFixed(1)}% of the limit`,
    );
    // The x ticks are the sweep's own client counts.
    for (const clients of ["1", "4", "10"]) expect(drawn).toContain(clients);
    expect(drawn.filter((t) => SCIENTIFIC.test(t))).toEqual([]);
  });

  test("a run without a roofline draws no limit and no shares; the batch job appears only when the result has it", async () => {
    const older = texts(await throughputFigure(OLDER));
    expect(older.some((t) => t.includes("roofline limit") || t.includes("% of the limit"))).toBe(false);
    expect(older).toContain(`service: best ${bestRps(OLDER, "service").toFixed(2)} req/s`);
    expect(older.some((t) => t.startsWith("batch job"))).toBe(false);
    const withJob = texts(await throughputFigure({ ...OLDER, batchJob: { rowsPerSecond: 12.5 } }));
    expect(withJob).toContain("batch job: 12.50 rows/s");
  });
});

describe("latency figure", () => {
  test("p50, p95 and p99 per peer, in seconds when the slowest answer takes seconds, never in scientific notation", async () => {
    const drawn = texts(await latencyFigure(WITH_ROOFLINE));
    expect(Math.max(...WITH_ROOFLINE.runs.flatMap((p) => p.sweep.map((x) => x.p99)))).toBeGreaterThan(2000);
    expect(drawn).toContain("latency (s)");
    expect(drawn).not.toContain("latency (ms)");
    for (const name of ["service", "naive", "p50", "p95", "p99", "offered load (closed-loop clients)"])
      expect(drawn).toContain(name);
    expect(drawn.filter((t) => SCIENTIFIC.test(t))).toEqual([]);
  });

  test("in milliseconds when every answer takes under 2 s, the unit in the axis title and not on a tick", async () => {
    const fast: StoredBenchResult = {
      ...WITH_ROOFLINE,
      runs: WITH_ROOFLINE.runs.map((p) => ({
        ...p,
        sweep: p.sweep.map((x) => ({ ...x, p50: 120, p95: 800, p99: 1500 })),
      })),
    };
    const drawn = texts(await latencyFigure(fast));
    expect(drawn).toContain("latency (ms)");
    // Thousands with a separator, as a reader writes them.
    expect(drawn).toContain("1,000");
    expect(drawn.filter((t) => /\d\s*m?s$/.test(t))).toEqual([]);
  });
});

describe("batching figure", () => {
  test("the service's mean batch size per scenario and at saturation against load, and both padding efficiencies", async () => {
    const drawn = texts(await batchingFigure(WHOLE_RUN_PADDING));
    for (const axis of ["achieved load (requests/s)", "mean batch size (rows per run)"]) expect(drawn).toContain(axis);
    expect(drawn).toContain("padding efficiency (real ÷ padded tokens)");
    const service = WHOLE_RUN_PADDING.runs.find((p) => p.peer === "service")!;
    expect(service.sweep.some((x) => x.meanBatch !== undefined)).toBe(false);
    for (const s of service.scenarios) expect(drawn).toContain(s.name);
    expect(drawn).toContain(`saturation (${Math.max(...service.sweep.map((x) => x.clients))} clients)`);
    expect(drawn).toContain(`${(100 * service.padding!).toFixed(1)}%`);
    expect(drawn).toContain(`${(100 * WHOLE_RUN_PADDING.raw!.paddingEfficiency).toFixed(1)}%`);
    for (const source of ["service, whole run", "raw engine, saturation batches"]) expect(drawn).toContain(source);
  });

  test("the latest run, which recorded batches at each sweep step, draws every step and no whole-run bar", async () => {
    const service = WITH_ROOFLINE.runs.find((p) => p.peer === "service")!;
    expect(service.sweep.every((x) => x.meanBatch !== undefined)).toBe(true);
    const drawn = texts(await batchingFigure(WITH_ROOFLINE));
    for (const x of service.sweep) expect(drawn).toContain(`sweep: ${x.clients} clients`);
    for (const s of service.scenarios) expect(drawn).toContain(s.name);
    expect(drawn).not.toContain("service, whole run");
    expect(drawn).toContain("service, by load");
  });

  test("saturation is the sweep's most clients, where its batch sizes were read, even when another step was faster", async () => {
    const service = OLDER.runs.find((p) => p.peer === "service")!;
    const fastest = service.sweep.reduce((a, b) => (b.rps > a.rps ? b : a));
    expect(fastest.clients).not.toBe(32);
    const drawn = texts(await batchingFigure(OLDER));
    expect(drawn).toContain("saturation (32 clients)");
    expect(drawn).not.toContain(`saturation (${fastest.clients} clients)`);
  });

  test("a run that recorded batches and padding at each sweep step draws both against load, the raw engine's padding as a line", async () => {
    const steps = [
      { clients: 1, batch: 1, padding: 1 },
      { clients: 4, batch: 2.5, padding: 0.83 },
      { clients: 10, batch: 4.2, padding: 0.71 },
    ];
    const byStep = {
      ...WITH_ROOFLINE,
      runs: WITH_ROOFLINE.runs.map((p) =>
        p.peer !== "service"
          ? p
          : {
              ...p,
              sweep: p.sweep.map((x) => {
                const step = steps.find((s) => s.clients === x.clients)!;
                return { ...x, meanBatch: step.batch, padding: step.padding };
              }),
            },
      ),
    };
    const drawn = texts(await batchingFigure(byStep));
    for (const s of steps) expect(drawn).toContain(`sweep: ${s.clients} clients`);
    for (const source of ["service, by load", "raw engine, saturation batches"]) expect(drawn).toContain(source);
    // The whole run's single bar gives way to the curve.
    expect(drawn).not.toContain("service, whole run");
    expect(drawn).toContain("padding efficiency (real ÷ padded tokens)");
  });
});

describe("simulated T4 figure", () => {
  test("offered and achieved rate of each scenario against the device's maximum, and what each lost", async () => {
    const drawn = texts(await simT4Figure(SIM_T4));
    for (const axis of ["rate (requests/s)", "requests"]) expect(drawn).toContain(axis);
    for (const series of ["offered", "achieved", "failures", "dropped arrivals"]) expect(drawn).toContain(series);
    // Closed loops have clients, not an offered rate: the label says how many.
    expect(drawn).toContain("stress_speed_test (10 clients)");
    expect(drawn).toContain("saturation (64 clients)");
    for (const name of ["does_it_even_work", "highload", "spike"]) expect(drawn).toContain(name);
    expect(drawn.some((t) => t.includes(`maximum, ${SIM_T4.maximum.requestsPerS.toFixed(1)} requests/s`))).toBe(true);
    expect(drawn).toContain("20,251");
    expect(drawn.filter((t) => SCIENTIFIC.test(t))).toEqual([]);
  });
});

describe("CPU sweep figure", () => {
  test("the raw engine at each batch limit in the sweep's order, per text mix, and the service at saturation", async () => {
    const drawn = texts(await cpuSweepFigure(CPU_SWEEP));
    for (const axis of ["batch limit", "throughput (texts/s = requests/s)"]) expect(drawn).toContain(axis);
    for (const series of ["graders", "tweets", "raw engine", "service at saturation (1 thread)"])
      expect(drawn).toContain(series);
    const limits = [...new Set(CPU_SWEEP.raw.map((p) => p.limit))];
    expect(drawn.filter((t) => limits.includes(t))).toEqual(limits);
  });
});

describe("bun bench/figures.ts", () => {
  test("redraws a stored bench result's three figures, a simulated-T4 result's and a CPU sweep's beside their JSON", () => {
    const dir = tempDir("figures");
    try {
      copyFileSync(join(RESULTS, "2026-12-03-vm.json"), join(dir, "run.json"));
      copyFileSync(join(import.meta.dir, "figures.sim-t4.json"), join(dir, "sim.json"));
      copyFileSync(join(import.meta.dir, "figures.cpu-sweep.json"), join(dir, "cpu.json"));
      const script = join(import.meta.dir, "..", "figures.ts");
      const out = Bun.spawnSync(["bun", script, ...["run", "sim", "cpu"].map((f) => join(dir, `${f}.json`))]);
      expect(out.exitCode).toBe(0);
      const names = ["run-throughput.svg", "run-latency.svg", "run-batching.svg", "sim.svg", "cpu.svg"].map((f) =>
        join(dir, f),
      );
      expect(out.stdout.toString().trim().split("\n")).toEqual(names);
      for (const file of names) expect(readFileSync(file, "utf8")).toStartWith("<svg");
      expect(Bun.spawnSync(["bun", script, join(dir, "run.md")]).exitCode).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
