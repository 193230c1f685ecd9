/**
 * What the simulated-T4 service reports about itself (GET /sim/device, only bench/sim/serve.ts mounts
 * it), and what a benchmark makes of two such snapshots: one scenario's window.
 */
import type { ModelObservation } from "../../app/service/api.ts";
import { type DeviceModel, type DeviceStats, utilisation } from "./device.ts";

export const SIM_STATS_ROUTE = "/sim/device";

/** One model's answered batches and the tokens it dispatched (they only grow). */
export interface ModelBatchCounts {
  key: string;
  batches: number;
  rows: number;
  realTokens: number;
  paddedTokens: number;
}

export interface SimStats {
  device: DeviceModel;
  stats: DeviceStats;
  models: ModelBatchCounts[];
}

export function simStats(device: DeviceModel, stats: DeviceStats, models: readonly ModelObservation[]): SimStats {
  return {
    device,
    stats,
    models: models.map(({ key, batches: s }) => ({
      key,
      batches: s.answeredBatches,
      rows: s.answeredRows,
      realTokens: s.realTokens,
      paddedTokens: s.paddedTokens,
    })),
  };
}

/** Between two snapshots: the device's use and the batches every model formed. */
export interface SimWindow {
  runs: number;
  /** Share of those runs that were packed batches, 0..1. */
  packedShare: number;
  /** Share of the window the device was busy, 0..1. */
  utilisation: number;
  /** Rows per batch, over every model's batches. */
  meanBatch: number;
  /** Real tokens ÷ padded tokens, over every model's batches. */
  paddingEfficiency: number;
}

export function simWindow(before: SimStats, after: SimStats): SimWindow {
  const sum = (s: SimStats, field: Exclude<keyof ModelBatchCounts, "key">) =>
    s.models.reduce((n, m) => n + m[field], 0);
  const delta = (field: Exclude<keyof ModelBatchCounts, "key">) => sum(after, field) - sum(before, field);
  const batches = delta("batches");
  const padded = delta("paddedTokens");
  const runs = after.stats.runs - before.stats.runs;
  return {
    runs,
    // Older snapshots have no packed runs.
    packedShare: runs > 0 ? ((after.stats.packedRuns ?? 0) - (before.stats.packedRuns ?? 0)) / runs : Number.NaN,
    utilisation: utilisation(before.stats, after.stats),
    meanBatch: batches > 0 ? delta("rows") / batches : Number.NaN,
    paddingEfficiency: padded > 0 ? delta("realTokens") / padded : Number.NaN,
  };
}

export async function fetchSimStats(url: string): Promise<SimStats> {
  const res = await fetch(`${url}${SIM_STATS_ROUTE}`);
  if (!res.ok) throw new Error(`${url}${SIM_STATS_ROUTE}: ${res.status} (is it bench/sim/serve.ts?)`);
  return (await res.json()) as SimStats;
}
