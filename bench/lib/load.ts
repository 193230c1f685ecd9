/** HTTP load against a /process endpoint: one request, arrival-rate runs (k6-like), statistics, server RSS. */
import { readFileSync } from "node:fs";
import { arrivalTimes, runArrivals, type ArrivalPlan } from "./arrival.ts";

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** The arithmetic mean (NaN for none). */
export const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Resident memory of a process (a server under test), MB. */
export function rssMb(pid: number): number {
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!rss) throw new Error(`/proc/${pid}/status has no VmRSS line (a kernel thread, or a process that has exited?)`);
  return Number(rss[1]) / 1024;
}

export interface LoadStats {
  requests: number;
  failures: number;
  dropped: number;
  rps: number;
  /** Most answers completed in any one-second window. */
  peakRps: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function summarize(
  samples: { end: number; ms: number; ok: boolean }[],
  seconds: number,
  dropped = 0,
): LoadStats {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const perSecond = new Map<number, number>();
  for (const s of samples)
    if (s.ok) perSecond.set(Math.floor(s.end / 1000), (perSecond.get(Math.floor(s.end / 1000)) ?? 0) + 1);
  return {
    requests: samples.length,
    failures: samples.filter((s) => !s.ok).length,
    dropped,
    // Answers, not attempts: a fast error is not throughput.
    rps: samples.filter((s) => s.ok).length / seconds,
    peakRps: Math.max(0, ...perSecond.values()),
    p50: percentile(ms, 50),
    p95: percentile(ms, 95),
    p99: percentile(ms, 99),
    mean: ms.reduce((a, b) => a + b, 0) / (ms.length || 1),
  };
}

/** One request as the graders sent it: the bare JSON string; ok means 200. */
export async function post(url: string, text: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/process`, {
      method: "POST",
      body: JSON.stringify(text),
      headers: { "content-type": "application/json" },
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function arrivalLoad(url: string, plan: ArrivalPlan, texts: string[]): Promise<LoadStats> {
  const times = arrivalTimes(plan.startRate, plan.stages);
  const samples: { end: number; ms: number; ok: boolean }[] = [];
  const t0 = performance.now();
  let i = 0;
  const r = await runArrivals(times, plan.maxInFlight, async () => {
    const started = performance.now();
    const ok = await post(url, texts[i++ % texts.length]);
    samples.push({ end: performance.now() - t0, ms: performance.now() - started, ok });
  });
  return summarize(samples, (performance.now() - t0) / 1000, r.dropped);
}
