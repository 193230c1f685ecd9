/**
 * Redraws a stored result's figures from its JSON, without running anything:
 *   bun bench/figures.ts bench/results/2026-12-03-vm.json   → <base>-throughput.svg, -latency.svg, -batching.svg
 *   bun bench/figures.ts /tmp/perf/sim-t4.json               → <base>.svg (the simulated T4's scenarios)
 *   bun bench/figures.ts /tmp/perf/cpu-sweep.json            → <base>.svg (the CPU sweep, bench/studies/cpu-sweep.ts)
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { SimResult } from "./sim/report.ts";
import {
  type CpuSweepResult,
  cpuSweepFigure,
  simT4Figure,
  type StoredBenchResult,
  writeBenchFigures,
} from "./lib/figures.ts";

/** The files written for one stored result; a simulated-T4 result is told by its device maximum, the CPU sweep by its kind. */
async function redraw(file: string): Promise<string[]> {
  const result = JSON.parse(readFileSync(file, "utf8"));
  const base = file.replace(/\.json$/, "");
  if (result.kind === "cpu-sweep") {
    writeFileSync(`${base}.svg`, await cpuSweepFigure(result as CpuSweepResult));
    return [`${base}.svg`];
  }
  if ("maximum" in result && "scenarios" in result) {
    writeFileSync(`${base}.svg`, await simT4Figure(result as SimResult));
    return [`${base}.svg`];
  }
  if (!Array.isArray(result.runs)) throw new Error(`${file}: neither a bench result (runs) nor a simulated-T4 result`);
  return writeBenchFigures(base, result as StoredBenchResult);
}

if (import.meta.main) {
  const files = process.argv.slice(2);
  if (!files.length || files.some((f) => !f.endsWith(".json"))) {
    console.error("usage: bun bench/figures.ts RESULT.json [...]");
    process.exit(2);
  }
  for (const file of files) for (const svg of await redraw(file)) console.log(svg);
}
