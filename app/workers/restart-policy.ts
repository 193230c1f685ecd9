/** When a crashed worker is started again: at once the first time, then with doubling back-off. */
export interface RestartPolicy {
  /** Delay before the second consecutive restart; the first is immediate. */
  initialMs: number;
  maxMs: number;
  /** A worker up this long is healthy again: its next crash restarts at once. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialMs: 250, maxMs: 30_000, stableMs: 60_000 };

/** Delay before restart number `failures` (1 = the first crash in a row). */
export function restartDelay(failures: number, p: RestartPolicy): number {
  if (failures <= 1) return 0;
  return Math.min(p.maxMs, p.initialMs * 2 ** (failures - 2));
}

/** Consecutive failures after one more crash, given how long the worker had been up (null: it never came up). */
export function failuresAfterCrash(previous: number, upForMs: number | null, p: RestartPolicy): number {
  return upForMs !== null && upForMs >= p.stableMs ? 1 : previous + 1;
}
