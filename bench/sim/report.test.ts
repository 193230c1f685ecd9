import { describe, expect, test } from "bun:test";
import { type LoadStats, summarize } from "../lib/load.ts";
import { type ModelWork, T4_FP32 } from "./device.ts";
import { choosePacking, providerDevice } from "./packing.ts";
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
  window: { runs: 10, packedShare: 0, utilisation: 0.9, meanBatch: 8, paddingEfficiency: 0.8 },
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

describe("the packed-or-padded section", () => {
  // Eight texts of 10 and 100 tokens: padded, one batch of 8 × 100; packed ≤ 1000, one batch of 440 real tokens.
  const work: ModelWork = {
    padded: (rows, length) => ({ weightBytes: 1e6, flops: rows * length * 5e6 }),
    packed: (lengths) => ({ weightBytes: 1e6, flops: lengths.reduce((n, l) => n + l, 0) * 5e6 }),
  };
  const loads = [{ work, lengths: [10, 100, 10, 100, 10, 100, 10, 100] }];
  const limits = { maxBatchSize: 8, maxBatchTokens: 10_000 };
  const device = { ...T4_FP32, memoryBandwidth: 1e9, peakFlops: 1e12, efficiency: 0.5, runOverheadMs: 1 };
  const choices = (["cuda", "tensorrt"] as const).map((p) =>
    choosePacking(p, providerDevice(p, device), loads, limits, [100, 1000]),
  );
  const saturation = (setting: string, rps: number, packedShare: number) => ({
    setting,
    scenario: { ...scenario(SATURATION, load(rps, 900)), window: { ...scenario("", load(1, 1)).window, packedShare } },
  });

  test("each provider's simulated maximum per layout, the choice, lib's value (flagged when it differs) and saturation live", () => {
    const [cuda] = choices;
    const packing = {
      choices,
      served: { cuda: 0, tensorrt: 1000 },
      saturation: [saturation("padded", 40, 0), saturation("packed:1000", 30, 1)],
    };
    const md = simReport({ ...result([]), packing });
    expect(md).toContain("#### Packed or padded batches on the GPU");
    expect(md).toContain(
      "| provider | run overhead | padded | packed ≤ 100 | packed ≤ 1000 | chosen | lib/gpu/packing.ts |",
    );
    // Padded: 1 + 8 + 1 = 10 ms for 8 texts; packed ≤ 1000: 1 + 4.4 + 1 = 6.4 ms; packed ≤ 100: more runs.
    expect(cuda.padded.requestsPerS).toBeCloseTo(8000 / 10, 6);
    expect(cuda.packed[1].maximum.requestsPerS).toBeCloseTo(8000 / 6.4, 6);
    expect(cuda.maxPackedTokens).toBe(1000);
    const cell = (m: { requestsPerS: number; meanRows: number }) =>
      `${m.requestsPerS.toFixed(1)} (${m.meanRows.toFixed(1)} rows)`;
    expect(md).toContain(
      `| cuda | 1.00 ms | ${cell(cuda.padded)} | ${cell(cuda.packed[0].maximum)} | ${cell(cuda.packed[1].maximum)} | ` +
        "packed ≤ 1000 tokens | padded **(differs: update it)** |",
    );
    expect(md).toContain("| tensorrt | 0.50 ms |");
    expect(md).toContain("packed ≤ 1000 tokens | packed ≤ 1000 tokens |");
    // Saturation: ÷ the padded maximum of the result (50 req/s) and ÷ the padded run.
    expect(md).toContain("| padded | 40.0 | 0.80 | 1.00 | 900.0 | 900.0 | 8.0 | 0% | 90% |");
    expect(md).toContain("| packed:1000 | 30.0 | 0.60 | 0.75 | 900.0 | 900.0 | 8.0 | 100% | 90% |");
    expect(md).toContain(`cuda: packed up to 1000 tokens, ${(10 / 6.4).toFixed(2)} × padded's simulated maximum.`);
    expect(md).toContain("What the simulation cannot know:");
    expect(md).toContain("- kernel fusion:");
  });

  test("padded kept: the report says why, and a run without saturation has no live table", () => {
    const dear: ModelWork = { ...work, packed: (lengths) => work.padded(1, 20 * lengths.reduce((n, l) => n + l, 0)) };
    const padded = choosePacking("cuda", device, [{ ...loads[0], work: dear }], limits, [100, 1000]);
    expect(padded.maxPackedTokens).toBe(0);
    const md = simReport({
      ...result([]),
      packing: { choices: [padded], served: { cuda: 0, tensorrt: 0 }, saturation: [] },
    });
    expect(md).toContain("cuda: padded stays — the best packed cap");
    expect(md).toContain("| cuda | 1.00 ms |");
    expect(md).toContain("| padded | padded |");
    expect(md).not.toContain("Saturation, live");
  });
});
