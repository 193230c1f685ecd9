import { describe, expect, test } from "bun:test";
import { rate, startProgress } from "./progress.ts";

describe("progress", () => {
  test("rows per second and the seconds left at that rate", () => {
    expect(rate(500, 2000, 10)).toEqual({ rowsPerSecond: 50, etaS: 30 });
    expect(rate(0, 2000, 10)).toEqual({ rowsPerSecond: 0, etaS: null });
    expect(rate(10, 10, 0)).toEqual({ rowsPerSecond: 0, etaS: null });
  });

  test("off a terminal: a JSON progress line every interval, counting rows committed before this run", async () => {
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const progress = startProgress(1_000_000, 400, false, (message, fields) => lines.push({ message, fields }), 20);
    progress.rows(100);
    progress.rows(2);
    progress.errors(2);
    await Bun.sleep(70);
    progress.stop();
    const count = lines.length;
    await Bun.sleep(50);
    expect(lines.length).toBe(count);
    expect(count).toBeGreaterThanOrEqual(2);
    const last = lines.at(-1);
    expect(last?.message).toBe("progress");
    expect(last?.fields).toMatchObject({ rows: 502, total: 1_000_000, errors: 2 });
    expect(last?.fields?.rowsPerSecond as number).toBeGreaterThan(0);
    expect(last?.fields?.etaS as number).toBeGreaterThan(0);
  });
});
