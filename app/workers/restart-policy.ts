/** When a crashed worker is started again: after a short pause, doubling while it keeps crashing. */
export interface RestartPolicy {
  /** Delay before the first restart of a crash series. */
  initialMs: number;
  maxMs: number;
  /** A worker up this long is healthy again: its next crash starts a new series. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialMs: 100, maxMs: 30_000, stableMs: 60_000 };

/** Delay before restarting after crash number `failures` of a series (1 = the first). */
export function restartDelay(failures: number, p: RestartPolicy): number {
  return Math.min(p.maxMs, p.initialMs * 2 ** Math.max(0, failures - 1));
}

/** Crashes in the series after one more, given how long the worker had been up (null: it never came up). */
export function failuresAfterCrash(previous: number, upForMs: number | null, p: RestartPolicy): number {
  return upForMs !== null && upForMs >= p.stableMs ? 1 : previous + 1;
}
