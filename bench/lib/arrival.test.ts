import { describe, expect, test } from "bun:test";
import { arrivalTimes, runArrivals, scalePlan, type Clock } from "./arrival.ts";
import { GRADERS } from "./scenarios.ts";
import { closedLoop } from "../closed-loop.ts";
import { percentile } from "./load.ts";
import { gradersTexts, lengthSummary } from "./texts.ts";

describe("arrival-rate pacing", () => {
  test("constant 1 req/s for 60 s: 60 iterations at 0, 1, ..., 59 s (as k6 starts them)", () => {
    expect(arrivalTimes(1, [{ durationS: 60, target: 1 }])).toEqual(Array.from({ length: 60 }, (_, i) => i * 1000));
  });

  test("a linear ramp 0 → 10 req/s over 10 s: 50 arrivals, the k-th at sqrt(2k) s, gaps shrinking", () => {
    const t = arrivalTimes(0, [{ durationS: 10, target: 10 }]);
    expect(t).toHaveLength(50);
    t.forEach((ms, k) => {
      expect(ms).toBeCloseTo(Math.sqrt(2 * k) * 1000, 6);
    });
  });

  test("stages chain: arrivals per stage equal the area under the rate", () => {
    const t = arrivalTimes(10, [
      { durationS: 2, target: 30 }, // 40 arrivals
      { durationS: 3, target: 30 }, // 90
      { durationS: 2, target: 0 }, // 30
    ]);
    expect(t).toHaveLength(160);
    expect(t.filter((ms) => ms < 2000)).toHaveLength(40);
    expect(t.filter((ms) => ms >= 2000 && ms < 5000)).toHaveLength(90);
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThan(t[i - 1]);
  });

  test("the graders' highload and spike at full scale: 60 req/s and 200 req/s are reached; scaling stretches time and rate", () => {
    const highload = GRADERS.find((s) => s.name === "highload")!;
    if (highload.kind !== "arrival") throw new Error();
    const t = arrivalTimes(highload.plan.startRate, highload.plan.stages);
    // 40..100 s hold 60 req/s.
    expect(t.filter((ms) => ms >= 40_000 && ms < 100_000)).toHaveLength(3600);
    const scaled = scalePlan(highload.plan, 0.5, 0.1);
    const ts = arrivalTimes(scaled.startRate, scaled.stages);
    expect(ts.filter((ms) => ms >= 20_000 && ms < 50_000)).toHaveLength(180); // 6 req/s for 30 s
    expect(scaled.maxInFlight).toBe(50);
  });
});

/** Virtual time: sleeping jumps the clock; no real time passes. */
const virtualClock = (): Clock => {
  let now = 0;
  return {
    now: () => now,
    sleepUntil: async (ms) => {
      now = Math.max(now, ms);
    },
  };
};

describe("dropped arrivals", () => {
  test("with every VU busy, arrivals are dropped and counted, not queued; they resume when a VU frees up", async () => {
    const gates: (() => void)[] = [];
    const clock = virtualClock();
    let sent = 0;
    const send = () => {
      sent++;
      return new Promise<void>((resolve) => gates.push(resolve));
    };
    // 10 arrivals, 3 VUs; the first three never finish until we release them after arrival 6.
    const times = Array.from({ length: 10 }, (_, i) => i * 100);
    const done = runArrivals(times.slice(0, 6), 3, send, clock);
    const r1 = await Promise.race([done, Bun.sleep(50).then(() => null)]);
    expect(r1).toBeNull(); // still waiting for the held sends
    expect(sent).toBe(3);
    gates.splice(0).forEach((g) => {
      g();
    });
    expect(await done).toEqual({ started: 3, dropped: 3, maxLagMs: 0 });
    // Sends that finish at once never cause drops.
    const fast = await runArrivals(times, 1, async () => {}, virtualClock());
    expect(fast).toEqual({ started: 10, dropped: 0, maxLagMs: 0 });
  });
});

describe("harness math and texts", () => {
  test("percentile: nearest rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)]).toEqual([
      50, 95, 99, 100,
    ]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  test("the graders' generator is repeatable by seed, different across seeds, and has the published parts", () => {
    const a = Array.from({ length: 2000 }, gradersTexts(42));
    expect(Array.from({ length: 2000 }, gradersTexts(42))).toEqual(a);
    expect(Array.from({ length: 2000 }, gradersTexts(43))).not.toEqual(a);
    const empty = a.filter((t) => t === "").length;
    expect(empty).toBeGreaterThan(0);
    expect(empty).toBeLessThan(30); // 0.5% of 2000 = 10
    const full = a.filter(Boolean);
    expect(full.every((t) => /https?:\/\/\S+/.test(t))).toBe(true);
    expect(full.every((t) => /\b(bc1|[13])[a-zA-HJ-NP-Z0-9]{20,}/.test(t))).toBe(true);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the generator must produce control characters; this finds them
    expect(full.some((t) => /[\u0000-\u001f\u007f]/.test(t))).toBe(true);
    expect(full.every((t) => /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(t))).toBe(true);
  });

  test("load statistics count answers, not attempts: failures add no throughput", async () => {
    const { summarize } = await import("./load.ts");
    const samples = [
      { end: 100, ms: 90, ok: true },
      { end: 900, ms: 80, ok: true },
      { end: 1200, ms: 1, ok: false },
      { end: 1300, ms: 1, ok: false },
      { end: 1500, ms: 70, ok: true },
    ];
    expect(summarize(samples, 2, 3)).toMatchObject({ requests: 5, failures: 2, dropped: 3, rps: 1.5, peakRps: 2 });
  });

  test("length summary", () => {
    expect(lengthSummary([3, 1, 2, 600, 4])).toEqual({ texts: 5, mean: 122, p50: 3, p95: 600, max: 600, over512: 1 });
  });
});

describe("closed loop", () => {
  test("throughput divides by the time the answers took, including requests still running at the end", async () => {
    // Each answer takes 300 ms; a 100 ms loop of 4 clients gets exactly 4 answers, 300 ms after it began.
    const server = Bun.serve({
      port: 0,
      fetch: async () => {
        await Bun.sleep(300);
        return Response.json({});
      },
    });
    try {
      const r = await closedLoop(`http://127.0.0.1:${server.port}`, 4, 0.1, ["a"]);
      expect(r.requests).toBe(4);
      expect(r.failures).toBe(0);
      expect(r.seconds).toBeGreaterThanOrEqual(0.3);
      expect(r.rps).toBeCloseTo(4 / r.seconds, 6);
      expect(r.rps).toBeLessThan(14); // not 4 / 0.1 = 40
    } finally {
      server.stop(true);
    }
  });
});
