import { afterAll, describe, expect, test } from "bun:test";
import { removeTempDirs, tinyEngines } from "../../testkit/fixtures.ts";
import {
  bestOfRunsLimit,
  bestRate,
  describeLimit,
  measureEqualLengthLimit,
  lengthStrata,
  modelRate,
  ratiosToLimitsAround,
  requestLimit,
} from "./equal-length-limit.ts";

afterAll(removeTempDirs, 30_000); // under CI load, removing the engines and the stopped raw engine's files took over 5 s

describe("the machine's request limit from each model's rate", () => {
  test("five equal models: cores × one session's rows/s ÷ 5 (2 × 19 ÷ 5 = 7.6)", () => {
    expect(requestLimit(2, [19, 19, 19, 19, 19])).toBeCloseTo(7.6, 12);
  });

  test("unequal models add their seconds per row: 2 cores ÷ (1/10 + 1/40) s = 16 req/s, below the equal-rate mean's 20", () => {
    expect(requestLimit(2, [10, 40])).toBeCloseTo(2 / (0.1 + 0.025), 12);
    expect(requestLimit(2, [10, 40])).toBeLessThan(requestLimit(2, [25, 25]));
  });

  test("no model: no limit (NaN); a slower model lowers it, more cores raise it in proportion", () => {
    expect(requestLimit(2, [])).toBeNaN();
    expect(requestLimit(2, [10, 20])).toBeLessThan(requestLimit(2, [10, 40]));
    expect(requestLimit(4, [10, 40])).toBeCloseTo(2 * requestLimit(2, [10, 40]), 12);
  });

  test("a run between two limits is set against their mean; every run needs a limit on each side", () => {
    expect(ratiosToLimitsAround([8, 7.6, 8.4], [7.2, 7.6])).toEqual([7.2 / 7.8, 7.6 / 8]);
    expect(() => ratiosToLimitsAround([8, 8], [7, 7])).toThrow("before and after");
    expect(ratiosToLimitsAround([8], [])).toEqual([]);
  });

  test("a model's rate is its best batch size's, the first of equals", () => {
    const rates = [
      { batch: 1, rowsPerSecond: 30 },
      { batch: 4, rowsPerSecond: 55 },
      { batch: 8, rowsPerSecond: 55 },
    ];
    expect(bestRate(rates)).toEqual({ batch: 4, rowsPerSecond: 55 });
    expect(() => bestRate([])).toThrow("no batch size");
  });
});

describe("a model's rate (modelRate)", () => {
  // Rows of three lengths; a run of `seconds: 0.001` is the warm-up and one cycle of them: 4 calls.
  const rows = [3, 5, 7].map((length) => ({ buffer: new SharedArrayBuffer(4), offset: 0, length }));
  const calls: number[] = [];
  /** Batches of 1 take 10 ms; of 4, 1 ms for their first 4 calls (a lucky run), 20 ms after. */
  const run = async (batch: unknown[]) => {
    calls.push(batch.length);
    const fours = calls.filter((n) => n === 4).length;
    await Bun.sleep(batch.length === 1 ? 10 : fours <= 4 ? 1 : 20);
  };

  test("the best size is chosen on one run of each, and its rate is a run after the choice, not the lucky one", async () => {
    const m = await modelRate("m", rows, run, { batchSizes: [1, 4], seconds: 0.001 });
    expect(calls).toEqual([1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4]);
    expect(m.rates.map((r) => r.batch)).toEqual([1, 4]);
    expect(m.best.batch).toBe(4);
    const lucky = m.rates[1].rowsPerSecond;
    expect(m.best.rowsPerSecond).toBeLessThan(lucky / 2);
    const limit = { source: "s", cores: 2, requestsPerSecond: requestLimit(2, [m.best.rowsPerSecond]), models: [m] };
    expect(bestOfRunsLimit(limit)).toBeCloseTo(requestLimit(2, [lucky]), 9);
    expect(describeLimit(limit)).toContain(`the best choosing runs would say ${(2 * lucky).toFixed(2)}`);
  });
});

describe("measuring it on a tiny model", () => {
  test("each batch size is timed, the best is run again and counts, the limit is the formula's; long texts give fewer rows/s than short ones", async () => {
    const engines = await tinyEngines("roberta", "equal-length-limit");
    const long = Array.from({ length: 6 }, (_, i) => `word${i} `.repeat(120));
    const [short, longer] = await measureEqualLengthLimit(
      engines,
      [
        { source: "short", texts: ["hi", "ok", "yes"] },
        { source: "long", texts: long },
      ],
      { batchSizes: [1, 4], seconds: 0.3, texts: 10, cores: 2 },
    );
    for (const l of [short, longer]) {
      expect(l.models.map((m) => m.key)).toEqual(["tiny"]);
      const [model] = l.models;
      expect(model.rates.map((r) => r.batch)).toEqual([1, 4]);
      for (const r of model.rates) expect(r.rowsPerSecond).toBeGreaterThan(0);
      expect(model.best.batch).toBe(bestRate(model.rates).batch);
      expect(model.best.rowsPerSecond).toBeGreaterThan(0);
      expect(l.requestsPerSecond).toBeCloseTo(requestLimit(2, [model.best.rowsPerSecond]), 9);
    }
    expect(longer.models[0].best.rowsPerSecond).toBeLessThan(short.models[0].best.rowsPerSecond);
    expect(short.allCores).toBeUndefined();
  }, 60_000);

  test("all cores at once, asked for: the models' largest best batch size, a rate, and the line says it", async () => {
    const engines = await tinyEngines("roberta", "equal-length-limit");
    const texts = Array.from({ length: 40 }, (_, i) => `text ${i} ${"word ".repeat(i)}`);
    const [l] = await measureEqualLengthLimit(engines, [{ source: "mixed", texts }], {
      batchSizes: [1, 4],
      seconds: 0.3,
      cores: 2,
      allCores: true,
    });
    expect(l.allCores?.batch).toBe(l.models[0].best.batch);
    expect(l.allCores?.requestsPerSecond).toBeGreaterThan(0);
    expect(describeLimit(l)).toContain(`all cores at once, batches of ${l.models[0].best.batch}:`);
  }, 60_000);
});

describe("the lengths a model is run at (lengthStrata)", () => {
  const rows = (lengths: number[]) => lengths.map((length, i) => ({ length, i }));
  const mean = (xs: { length: number }[]) => xs.reduce((n, r) => n + r.length, 0) / xs.length;

  test("the middle row of each of 16 strata, short to long; every row of a smaller set", () => {
    const ramp = rows(Array.from({ length: 1600 }, (_, i) => 1599 - i));
    expect(lengthStrata(ramp).map((r) => r.length)).toEqual(Array.from({ length: 16 }, (_, j) => 100 * j + 50));
    const few = rows([9, 3, 5]);
    expect(lengthStrata(few).map((r) => r.i)).toEqual([1, 2, 0]);
    expect(lengthStrata([])).toEqual([]);
  });

  test("texts that start short still stand for the set: its mean, not the first texts'", () => {
    // The first half of the texts short (10 tokens), the second long (50): in text order the first 16 are all short.
    const set = rows([...Array(500).fill(10), ...Array(500).fill(50)]);
    expect(mean(lengthStrata(set))).toBe(30);
    const skewed = rows(Array.from({ length: 2000 }, (_, i) => (i < 1800 ? 20 : 100)));
    // 16 strata: within one stratum's share of the range (80 ÷ 16) of the set's mean of 28; the first 16 say 20.
    expect(Math.abs(mean(lengthStrata(skewed)) - mean(skewed))).toBeLessThanOrEqual(80 / 16);
  });
});
