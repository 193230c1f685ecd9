import { describe, expect, test } from "bun:test";
import { T4_FP32 } from "./device.ts";
import { type SimStats, simWindow } from "./sim-stats.ts";

const snapshot = (
  at: number,
  busyMs: number,
  runs: number,
  models: [number, number, number, number][],
  packedRuns = 0,
): SimStats => ({
  device: T4_FP32,
  stats: { at, runs, packedRuns, rows: 0, busyMs, busyUntil: at },
  models: models.map(([batches, rows, realTokens, paddedTokens], i) => ({
    key: `m${i}`,
    batches,
    rows,
    realTokens,
    paddedTokens,
  })),
});

describe("one scenario's window between two snapshots", () => {
  test("batches, rows and tokens are counted over every model; the device's busy time over the window", () => {
    const before = snapshot(1000, 200, 10, [
      [4, 10, 300, 400],
      [4, 10, 300, 400],
    ]);
    const after = snapshot(
      3000,
      1700,
      16,
      [
        [6, 20, 700, 900], // +2 batches, +10 rows, +400 real of +500 padded
        [8, 22, 600, 800], // +4 batches, +12 rows, +300 real of +400 padded
      ],
      3,
    );
    expect(simWindow(before, after)).toEqual({
      runs: 6,
      packedShare: 0.5, // 3 of the 6 runs
      utilisation: 0.75, // 1500 ms busy in 2000
      meanBatch: 22 / 6,
      paddingEfficiency: 700 / 900,
    });
  });

  test("a window without batches has no batch size or padding to report", () => {
    const s = snapshot(0, 0, 0, [[1, 1, 5, 5]]);
    const w = simWindow(s, { ...s, stats: { ...s.stats, at: 100 } });
    expect(w).toMatchObject({ runs: 0, utilisation: 0 });
    expect(w.meanBatch).toBeNaN();
    expect(w.paddingEfficiency).toBeNaN();
  });
});
