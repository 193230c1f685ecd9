import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { requestLimit } from "./equal-length-limit.ts";
import type { LoadStats } from "./load.ts";
import { costPerMillion, goals, headline, hourlyPrice, reportMarkdown, writeReport } from "./report.ts";
import type { BenchResult } from "./report.ts";

const stats = (rps: number, p50: number): LoadStats => ({
  requests: 100,
  failures: 0,
  dropped: 0,
  rps,
  peakRps: rps,
  p50,
  p95: p50 * 2,
  p99: p50 * 3,
  mean: p50,
});

/**
 * Service 10 req/s at 10 clients, naive 4, raw 8 texts/s with a 100 ms floor, service p50 125 ms at 1 req/s;
 * 5 GFLOP per request against a 100 GFLOP/s GEMM rate.
 */
const RESULT: BenchResult = {
  date: "2026-01-02",
  machine: "box",
  profileName: "short",
  cmdLine: "bun run bench --engines /e",
  host: { cpu: "Test CPU", cores: 2, memoryBytes: 8 * 2 ** 30 },
  versions: { bun: "1.4.5" },
  models: [
    {
      key: "m",
      architecture: "RobertaForSequenceClassification",
      parameters: { total: 5e6, nonZero: 5e6, bytes: 2e7 },
    },
  ],
  engines: "/e",
  texts: 3,
  profile: { sweep: [1, 10], sweepSeconds: 12, timeScale: 0.1, single: 30 },
  rateScale: 10 / 60,
  runs: [
    {
      peer: "service",
      sweep: [
        { ...stats(6, 150), clients: 1 },
        { ...stats(10, 900), clients: 10 },
      ],
      scenarios: [{ ...stats(1, 125), name: "does_it_even_work" }],
      rssMaxMb: 500,
      batch: { does_it_even_work: 1 },
      padding: 0.9,
    },
    {
      peer: "naive",
      sweep: [
        { ...stats(2, 400), clients: 1 },
        { ...stats(4, 2000), clients: 10 },
      ],
      scenarios: [{ ...stats(1, 300), name: "does_it_even_work" }],
      rssMaxMb: 700,
    },
  ],
  raw: { textsPerSecond: 8, paddingEfficiency: 0.95, single: { p50: 100, p95: 120, mean: 105 }, batch: { m: 4 } },
  lengths: [
    {
      family: "roberta-1",
      sources: [{ source: "graders", texts: 3, mean: 90, p50: 90, p95: 100, max: 110, over512: 0 }],
    },
  ],
  labelsAgree: 20,
  instance: "c7i.2xlarge",
  pricePerHour: 0.357,
  roofline: {
    gemm: {
      gflops: 100,
      threads: 2,
      shapes: [
        { tokens: 128, k: 768, n: 768, sessions: 1, threads: 2, runs: 40, seconds: 0.4, gflops: 60 },
        { tokens: 512, k: 3072, n: 768, sessions: 2, threads: 1, runs: 25, seconds: 0.4, gflops: 100 },
      ],
    },
    flopsPerRequest: 5e9,
    texts: 2000,
  },
};

describe("benchmark report", () => {
  test("the goals table has a row per goal: measured, target, and met only when measured reaches the target", () => {
    const md = reportMarkdown(RESULT, "run");
    expect(md).toContain("| service ≥ 0.9 × raw-engine throughput at saturation | 1.250 | 0.900 | yes |");
    expect(md).toContain("| service ≥ 2 × naive at 10 closed-loop clients | 2.500 | 2.000 | yes |");
    expect(md).toContain("| p50 at 1 req/s ≤ 1.15 × raw single-request latency | 0.800 | 0.870 | **no** |");
    expect(md).toContain("| padding efficiency ≥ 0.85 | 0.900 | 0.850 | yes |");
    expect(md).toContain("![throughput against offered load, under the roofline limit](run-throughput.svg)");
    expect(md).toContain("![p50, p95 and p99 latency against offered load](run-latency.svg)");
    expect(md).toContain("![mean batch size and padding efficiency under load](run-batching.svg)");
    expect(md.endsWith(`${headline(RESULT)}\n`)).toBe(true);
  });

  test("a peer that did not run shows – and leaves the goals that need it unmet", () => {
    const withoutRaw = { ...RESULT, raw: null };
    expect(goals(withoutRaw).map((g) => g.measured >= g.target)).toEqual([false, true, false, true]);
    const md = reportMarkdown(withoutRaw, "run");
    expect(md).toContain("| service ≥ 0.9 × raw-engine throughput at saturation | – | 0.900 | **no** |");
    expect(md).not.toContain("| raw engine |");
    expect(headline(withoutRaw)).toBe("service ÷ raw = –; service ÷ naive (10 clients) = 2.500");
  });

  test("cost per million requests at the service's best throughput, for each list price and the chosen one", () => {
    expect(costPerMillion(10, 0.357)).toBeCloseTo(9.9167, 4);
    expect(hourlyPrice("g4dn.2xlarge")).toBe(0.752);
    expect(hourlyPrice("unknown")).toBe(0.357);
    expect(hourlyPrice("g4dn.2xlarge", "1.5")).toBe(1.5);
    const md = reportMarkdown(RESULT, "run");
    expect(md).toContain("## Cost per million requests (at the service's saturation throughput, 10.00 req/s)");
    expect(md).toContain("- c7i.2xlarge at $0.357/h: $9.92 per million, if that instance ran at this box's throughput");
    expect(md).toContain("- --price-per-hour (c7i.2xlarge) at $0.357/h: $9.92 per million");
  });

  test("the roofline: each peer's best rate × FLOPs per request against the measured GEMM rate", () => {
    const md = reportMarkdown(RESULT, "run");
    expect(md).toContain("## Roofline (achieved FLOP rate ÷ the box's measured GEMM rate)");
    expect(md).toContain(
      "FLOPs per request: 5.00 GFLOP (one text through the 1 served models, mean over 2000 of the graders' texts",
    );
    expect(md).toContain(
      "GEMM rate: 100.0 GFLOP/s, the best of FP32 MatMul through onnxruntime-node on 2 cores (one session with a " +
        "thread per core, and one-thread sessions side by side)",
    );
    expect(md).toContain(
      "(GFLOP/s: [128, 768] × [768, 768] (1 × 2 threads) 60, [512, 3072] × [3072, 768] (2 × 1 thread) 100)",
    );
    // Best of the sweep: service 10 req/s, naive 4; raw 8 texts/s. × 5 GFLOP ÷ 100 GFLOP/s.
    expect(md).toContain(
      "- service at 10.00 req/s: achieved 50.0 GFLOP/s = 50.0% of the box's measured GEMM rate 100.0 GFLOP/s",
    );
    expect(md).toContain(
      "- naive at 4.00 req/s: achieved 20.0 GFLOP/s = 20.0% of the box's measured GEMM rate 100.0 GFLOP/s",
    );
    expect(md).toContain(
      "- raw engine at 8.00 texts/s: achieved 40.0 GFLOP/s = 40.0% of the box's measured GEMM rate 100.0 GFLOP/s",
    );
    expect(md).toContain("**How to read the roofline.**");
    // The roofline comes before the goals.
    expect(md.indexOf("## Roofline")).toBeLessThan(md.indexOf("## Goals"));
  });

  test("a run without a roofline (older results) says so, and a run without the raw engine has no raw line", () => {
    expect(reportMarkdown({ ...RESULT, roofline: undefined }, "run")).toContain(
      "## Roofline (achieved FLOP rate ÷ the box's measured GEMM rate)\n\nNot measured in this run.",
    );
    const withoutRaw = reportMarkdown({ ...RESULT, raw: null }, "run");
    expect(withoutRaw).toContain("- service at 10.00 req/s: achieved 50.0 GFLOP/s");
    expect(withoutRaw).not.toContain("- raw engine at");
  });

  test("the equal-length limit: service ÷ limit, padding, rows per batch and p50 at 1 client per text set, side by side, with goals", () => {
    const limit = (source: string, rates: number[]) => ({
      source,
      cores: 2,
      requestsPerSecond: requestLimit(2, rates),
      models: rates.map((r, i) => ({ key: `m${i}`, best: { batch: 4, rowsPerSecond: r }, rates: [] })),
    });
    const service = { clients: 8, meanBatch: 2.9, padding: 0.79, p50At1: 140 };
    // graders: 2 ÷ (1/10 + 1/40) = 16 req/s, the service at 14.4 → 0.9; tweets: 2 × 19 ÷ 2 = 19, the service at 5.5.
    const limits = [
      { limit: limit("graders", [10, 40]), service: { ...service, rps: 14.4 } },
      { limit: limit("tweets", [19, 19]), service: { ...service, rps: 5.5 } },
    ];
    const r = { ...RESULT, limits };
    const md = reportMarkdown(r, "run");
    expect(md).toContain("## Service ÷ the equal-length limit");
    expect(md).toContain(
      "| texts | limit req/s | service req/s (8 clients) | ÷ limit | padding eff. | mean rows/batch | p50 ms at 1 client |",
    );
    expect(md).toContain("| graders | 16.00 | 14.40 | 0.900 | 0.790 | 2.90 | 140 |");
    expect(md).toContain(`| tweets | 19.00 | 5.50 | ${(5.5 / 19).toFixed(3)} | 0.790 | 2.90 | 140 |`);
    expect(md).toContain("- graders: m0 10.0 rows/s (batch 4), m1 40.0 rows/s (batch 4)");
    expect(md).toContain("| service ≥ 0.9 × the equal-length limit on graders (8 clients) | 0.900 | 0.900 | yes |");
    expect(md).toContain("| service ≥ 0.9 × the equal-length limit on tweets (8 clients) | 0.289 | 0.900 | **no** |");
    expect(headline(r)).toEndWith(`; service ÷ equal-length limit: graders 0.900, tweets ${(5.5 / 19).toFixed(3)}`);
    // The section sits before the goals; a run without the service shows – where it would be.
    expect(md.indexOf("## Service ÷ the equal-length limit")).toBeLessThan(md.indexOf("## Goals"));
    const noService = reportMarkdown({ ...RESULT, limits: [{ ...limits[0], service: null }] }, "run");
    expect(noService).toContain("| graders | 16.00 | – | – | – | – | – |");
    expect(reportMarkdown(RESULT, "run")).toContain("## Service ÷ the equal-length limit\n\nNot measured in this run.");
  });

  test("writeReport writes the markdown, the figures it embeds and the raw numbers beside each other", async () => {
    const dir = tempDir("bench-report");
    try {
      const base = join(dir, "results", "2026-01-02-box");
      await writeReport(base, RESULT);
      const md = readFileSync(`${base}.md`, "utf8");
      for (const figure of ["throughput", "latency", "batching"]) {
        expect(md).toContain(`](2026-01-02-box-${figure}.svg)`);
        expect(readFileSync(`${base}-${figure}.svg`, "utf8")).toStartWith("<svg");
      }
      const json = JSON.parse(readFileSync(`${base}.json`, "utf8"));
      const keys = ["cmdLine", "versions", "profile", "rateScale", "runs", "raw", "lengths"];
      expect(Object.keys(json)).toEqual([...keys, "roofline"]);
      expect(json.roofline).toEqual(RESULT.roofline);
      // A result without a roofline writes the keys older files have.
      await writeReport(base, { ...RESULT, roofline: undefined });
      expect(Object.keys(JSON.parse(readFileSync(`${base}.json`, "utf8")))).toEqual(keys);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
