import { describe, expect, test } from "bun:test";
import { type LoadStats, summarize } from "../lib/load.ts";
import { T4_FP32 } from "./device.ts";
import { goalChecks, ONE_PER_SECOND, SATURATION, simReport, type SimResult, type SimScenario } from "./report.ts";

/** 100 answers of `p50` ms each over the time `rps` gives, the first `failures` of them failed. */
const load = (rps: number, p50: number, failures = 0): LoadStats =>
  summarize(
    Array.from({ length: 100 }, (_, i) => ({ end: i, ms: p50, ok: i >= failures })),
    (100 - failures) / rps,
  );
const scenario = (name: string, l: LoadStats): SimScenario => ({
  name,
  clients: 64,
  load: l,
  window: { runs: 10, utilisation: 0.9, meanBatch: 8, paddingEfficiency: 0.8 },
});

function result(scenarios: SimScenario[]): SimResult {
  return {
    date: "2026-11-30",
    command: "bun bench/sim-t4.ts --engines /tmp/e",
    device: T4_FP32,
    limits: { maxBatchSize: 32, maxBatchTokens: 16384, maxQueueDelayMs: 5 },
    timeScale: 1,
    texts: 2000,
    models: [],
    maximum: { requestsPerS: 50, msPerRequest: 20, meanRows: 31, paddingEfficiency: 0.99 },
    oneRun: { p50Ms: 20, meanMs: 21 },
    scenarios,
  };
}

describe("the simulated T4's goals", () => {
  test("met: saturation at 0.9 of the maximum, p50 at 1 req/s 1.1 × one run, no failures", () => {
    const r = result([scenario(SATURATION, load(45, 900)), scenario(ONE_PER_SECOND, load(1, 22))]);
    expect(goalChecks(r).map((g) => g.met)).toEqual([true, true, true]);
  });

  test("missed: below 0.9 of the maximum, p50 above 1.1 × one run, a failure anywhere", () => {
    const r = result([scenario(SATURATION, load(44, 900, 1)), scenario(ONE_PER_SECOND, load(1, 22.2))]);
    expect(goalChecks(r)).toEqual([
      { goal: "saturation ≥ 0.9 × the simulated maximum", measured: "0.88 (44.0 req/s)", met: false },
      { goal: "p50 at 1 req/s ≤ 1.1 × one simulated run", measured: "1.11 (22.2 ms)", met: false },
      { goal: "no failures", measured: "1", met: false },
    ]);
  });

  test("a goal whose scenario did not run is neither met nor missed, and the report says so", () => {
    const r = result([scenario("highload", load(40, 300))]);
    expect(goalChecks(r).map((g) => g.met)).toEqual([null, null, true]);
    const md = simReport(r);
    expect(md).toContain("| saturation ≥ 0.9 × the simulated maximum | not run | – |");
    expect(md).toContain("| highload | 64 clients | 40.0 | 0.80 | 300.0 | 300.0 | 15.00 | 8.0 | 80% | 0 | 0 | 90% |");
  });
});
