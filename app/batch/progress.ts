import { SingleBar } from "cli-progress";
import type { LogFn } from "../log.ts";

/** How often a progress line is logged off a terminal. */
const LINE_EVERY_MS = 5000;

export interface JobProgress {
  /** Rows done (classified or sent to the errors file) in this run. */
  rows(n: number): void;
  errors(n: number): void;
  stop(): void;
}

/** Rows per second and the seconds left at that rate (null until there is a rate). */
export function rate(done: number, total: number, seconds: number) {
  const rowsPerSecond = seconds > 0 ? done / seconds : 0;
  const etaS = rowsPerSecond > 0 ? Math.max(0, total - done) / rowsPerSecond : null;
  return { rowsPerSecond: Math.round(rowsPerSecond * 10) / 10, etaS: etaS === null ? null : Math.round(etaS) };
}

/**
 * A bar on a terminal (rows, rows/s, ETA, errors: cli-progress, on stderr); elsewhere (a Kubernetes
 * Job's log) one JSON line every few seconds. `done`: the shard's rows already committed by earlier runs.
 */
export function startProgress(
  total: number,
  done: number,
  tty: boolean,
  log: LogFn,
  everyMs = LINE_EVERY_MS,
): JobProgress {
  const started = performance.now();
  let rows = 0;
  let errors = 0;
  const fields = () => {
    const seconds = (performance.now() - started) / 1000;
    return { rows: done + rows, total, errors, ...rate(rows, total - done, seconds) };
  };
  if (tty) {
    const bar = new SingleBar({
      format:
        "classify [{bar}] {percentage}% | {value}/{total} rows | {rowsPerSecond} rows/s | ETA {remaining} | {errors} errors",
      hideCursor: true,
    });
    const payload = () => {
      const f = fields();
      return { rowsPerSecond: f.rowsPerSecond, remaining: f.etaS === null ? "?" : `${f.etaS} s`, errors: f.errors };
    };
    bar.start(total, done, payload());
    return {
      rows: (n) => {
        rows += n;
        bar.update(done + rows, payload());
      },
      errors: (n) => {
        errors += n;
      },
      stop: () => bar.stop(),
    };
  }
  const timer = setInterval(() => log("progress", fields()), everyMs);
  // A progress line is never a reason to keep the process alive.
  timer.unref();
  return {
    rows: (n) => {
      rows += n;
    },
    errors: (n) => {
      errors += n;
    },
    stop: () => clearInterval(timer),
  };
}
