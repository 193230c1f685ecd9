import { SingleBar } from "cli-progress";
import type { HubSettings } from "./settings.ts";

const UNITS = ["B", "kB", "MB", "GB", "TB"];

/** Decimal units, as the Hub shows file sizes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** One progress line for a log: the file, bytes so far of the total, and the rate since the last line. */
export function progressLine(file: string, bytes: number, total: number, bytesPerSecond: number): string {
  const percent = total > 0 ? Math.floor((bytes / total) * 100) : 100;
  const rate = formatBytes(Math.round(bytesPerSecond));
  return `${file}: ${formatBytes(bytes)} / ${formatBytes(total)} (${percent}%), ${rate}/s`;
}

export interface DownloadProgress {
  update(bytes: number): void;
  stop(): void;
}

/**
 * A bar on a terminal; elsewhere (a Kubernetes init container) a line to the log every `progressEveryMs`,
 * also while no bytes come, so a stalled download shows 0 B/s rather than silence.
 */
export function startProgress(
  file: string,
  total: number,
  bytes: number,
  hub: Pick<HubSettings, "progress" | "progressEveryMs" | "log">,
): DownloadProgress {
  if (hub.progress) {
    const bar = new SingleBar({ format: `${file} [{bar}] {percentage}% {value}/{total} bytes`, hideCursor: true });
    bar.start(total, bytes);
    return { update: (b) => bar.update(b), stop: () => bar.stop() };
  }
  const log = hub.log;
  if (!log) return { update() {}, stop() {} };
  let current = bytes;
  let last = { bytes, at: performance.now() };
  const timer = setInterval(() => {
    const at = performance.now();
    log(progressLine(file, current, total, ((current - last.bytes) * 1000) / Math.max(1, at - last.at)));
    last = { bytes: current, at };
  }, hub.progressEveryMs);
  // A progress line is never a reason to keep the process alive.
  timer.unref();
  return {
    update: (b) => {
      current = b;
    },
    stop: () => clearInterval(timer),
  };
}
