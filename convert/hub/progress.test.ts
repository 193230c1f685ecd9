import { describe, expect, test } from "bun:test";
import { formatBytes, progressLine, startProgress } from "./progress.ts";

describe("download progress", () => {
  test("sizes read in decimal units, as the Hub shows them", () => {
    expect([0, 999, 1000, 1_234_567, 498_600_000, 2_100_000_000].map(formatBytes)).toEqual([
      "0 B",
      "999 B",
      "1.0 kB",
      "1.2 MB",
      "498.6 MB",
      "2.1 GB",
    ]);
  });

  test("a progress line: file, bytes so far / total, percentage and rate", () => {
    expect(progressLine("acme/x/model.safetensors", 123_400_000, 498_600_000, 4_100_000)).toBe(
      "acme/x/model.safetensors: 123.4 MB / 498.6 MB (24%), 4.1 MB/s",
    );
    expect(progressLine("acme/x/empty.txt", 0, 0, 0)).toBe("acme/x/empty.txt: 0 B / 0 B (100%), 0 B/s");
  });

  test("without a bar or a log, nothing is reported", async () => {
    const written: string[] = [];
    const record =
      (stream: string) =>
      (...args: unknown[]) => {
        written.push(`${stream}: ${String(args[0])}`);
        return true;
      };
    const saved = { out: process.stdout.write, err: process.stderr.write, console: { ...console } };
    process.stdout.write = record("stdout") as typeof process.stdout.write;
    process.stderr.write = record("stderr") as typeof process.stderr.write;
    for (const level of ["log", "info", "warn", "error", "debug"] as const) console[level] = record(`console.${level}`);
    try {
      const progress = startProgress("f", 10, 0, { progress: false, progressEveryMs: 1 });
      progress.update(5);
      await Bun.sleep(30); // thirty reporting periods
      progress.stop();
    } finally {
      process.stdout.write = saved.out;
      process.stderr.write = saved.err;
      Object.assign(console, saved.console);
    }
    expect(written).toEqual([]);
  });

  test("a stalled download keeps logging, at 0 B/s, until it stops", async () => {
    const log: string[] = [];
    const progress = startProgress("acme/x/f", 2000, 1000, {
      progress: false,
      progressEveryMs: 20,
      log: (l) => log.push(l),
    });
    await Bun.sleep(70);
    progress.stop();
    const count = log.length;
    await Bun.sleep(40);
    expect(count).toBeGreaterThanOrEqual(2);
    expect(log).toHaveLength(count);
    expect(log[0]).toBe("acme/x/f: 1.0 kB / 2.0 kB (50%), 0 B/s");
  });
});
