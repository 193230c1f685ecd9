import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { sharedFile } from "../../testkit/shared.ts";
import { shapeFromConfig } from "../lib/flops.ts";
import { standInFor } from "./stand-in.ts";
import {
  batchWork,
  type DeviceModel,
  deviceMaximum,
  fullestBatches,
  packedBatches,
  modelledRunMs,
  oneRequestMs,
  SimulatedDevice,
  T4_FP32,
  utilisation,
  type ModelWork,
} from "./device.ts";

/** A clock the test moves by hand. */
function manualClock(start = 0) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

/** Round numbers: 1 MB of weights read in 1 ms, 0.01 ms per token (5 MFLOP at 0.5 × 1 TFLOP/s), 1 ms per run. */
const ROUND: DeviceModel = { name: "round", memoryBandwidth: 1e9, peakFlops: 1e12, efficiency: 0.5, runOverheadMs: 1 };
const roundWork: ModelWork = {
  padded: (rows, length) => ({ weightBytes: 1e6, flops: rows * length * 5e6 }),
  packed: (lengths) => ({ weightBytes: 1e6, flops: lengths.reduce((n, l) => n + l, 0) * 5e6 }),
};

describe("the cost model", () => {
  test("T4: 320 MB of weights (1 ms at 320 GB/s) + 4.05 GFLOP (1 ms at 0.5 × 8.1 TFLOP/s) + 0.5 ms overhead = 2.5 ms", () => {
    expect(modelledRunMs(T4_FP32, { weightBytes: 320e6, flops: 4.05e9 })).toBeCloseTo(2.5, 9);
  });

  test("the terms add: no weights and no FLOPs cost the overhead alone; doubling the FLOPs adds their term once more", () => {
    expect(modelledRunMs(T4_FP32, { weightBytes: 0, flops: 0 })).toBe(0.5);
    expect(modelledRunMs(T4_FP32, { weightBytes: 320e6, flops: 8.1e9 })).toBeCloseTo(3.5, 9);
  });
});

describe("the device timeline", () => {
  const run = { weightBytes: 320e6, flops: 4.05e9 }; // 2.5 ms on the T4

  test("an idle device starts a run at once", () => {
    const clock = manualClock(10);
    const device = new SimulatedDevice(T4_FP32, clock);
    expect(device.reserve(run, 1)).toEqual({ askedAt: 10, start: 10, end: 12.5 });
  });

  test("runs of two models queue FIFO: each starts when the one asked before it ends; a gap leaves the device idle", () => {
    const clock = manualClock(0);
    const device = new SimulatedDevice(T4_FP32, clock);
    const a1 = device.reserve(run, 4); // model A at 0
    clock.set(1);
    const b1 = device.reserve(run, 2); // model B at 1: behind A
    clock.set(1.5);
    const a2 = device.reserve(run, 1); // model A again at 1.5: behind B
    expect([a1, b1, a2].map((s) => [s.start, s.end])).toEqual([
      [0, 2.5],
      [2.5, 5],
      [5, 7.5],
    ]);
    clock.set(20);
    expect(device.reserve(run, 1).start).toBe(20);
    // At 20 the last run has only started: 7.5 ms of the 10 reserved have passed.
    expect(device.stats()).toMatchObject({ runs: 4, rows: 8, busyMs: 7.5, busyUntil: 22.5 });
  });

  test("utilisation: busy time between two snapshots ÷ the window; time reserved ahead counts only once it has passed", () => {
    const clock = manualClock(0);
    const device = new SimulatedDevice(T4_FP32, clock);
    const start = device.stats();
    device.reserve(run, 1);
    device.reserve(run, 1); // busy 0 → 5
    clock.set(3);
    const mid = device.stats();
    expect(mid.busyMs).toBe(3);
    expect(utilisation(start, mid)).toBe(1);
    clock.set(10);
    expect(utilisation(start, device.stats())).toBe(0.5); // 5 ms busy in 10
    expect(utilisation(mid, device.stats())).toBeCloseTo(2 / 7, 9); // 3 → 5 busy, 5 → 10 idle
  });
});

describe("the device's maximum throughput", () => {
  test("fullest batches: sorted lengths, cut where a batch would pass MAX_BATCH_SIZE or MAX_BATCH_TOKENS; an over-long row alone", () => {
    const limits = { maxBatchSize: 3, maxBatchTokens: 100 };
    expect(fullestBatches([40, 30, 100, 10, 30, 12], limits)).toEqual([
      { rows: 3, length: 30 }, // 10, 12, 30: 90 tokens padded
      { rows: 2, length: 40 }, // 30, 40: the size limit closed the first
      { rows: 1, length: 100 }, // 3 × 100 > 100
    ]);
  });

  test("texts ÷ the device time of every model's fullest batches (worked by hand), and one request alone", () => {
    const lengths = [10, 20, 10, 20];
    const models = [
      { work: roundWork, lengths },
      { work: roundWork, lengths },
    ];
    // Batch 2: runs 2 × 10 (1 + 0.2 + 1 = 2.2 ms) and 2 × 20 (2.4 ms) per model: 9.2 ms for 4 texts.
    const pairs = deviceMaximum(ROUND, models, { maxBatchSize: 2, maxBatchTokens: 1000 });
    expect(pairs.msPerRequest).toBeCloseTo(2.3, 9);
    expect(pairs.requestsPerS).toBeCloseTo(1000 / 2.3, 6);
    expect(pairs.meanRows).toBe(2);
    // Batch 1: 2.1 + 2.1 + 2.2 + 2.2 ms per model: 17.2 ms for 4 texts. The weights and overhead are paid per run.
    const single = deviceMaximum(ROUND, models, { maxBatchSize: 1, maxBatchTokens: 1000 });
    expect(single.msPerRequest).toBeCloseTo(4.3, 9);
    // The token budget bounds the batch as the size does: 30 tokens allow only one row of 20.
    const tokens = deviceMaximum(ROUND, models, { maxBatchSize: 32, maxBatchTokens: 30 });
    expect(tokens.meanRows).toBeCloseTo(4 / 3, 9); // 2 × 10, 1 × 20, 1 × 20
    expect(pairs.paddingEfficiency).toBe(1); // equal lengths side by side once sorted
    const mixed = deviceMaximum(ROUND, [{ work: roundWork, lengths: [10, 30] }], {
      maxBatchSize: 2,
      maxBatchTokens: 1000,
    });
    expect(mixed.paddingEfficiency).toBeCloseTo(40 / 60, 9);
    expect(
      oneRequestMs(ROUND, [
        { work: roundWork.padded, length: 10 },
        { work: roundWork.padded, length: 20 },
      ]),
    ).toBeCloseTo(4.3, 9);
  });
});

describe("a packed batch's cost", () => {
  // XLM-R base as published (cardiffnlp's config.json): the stand-in the simulated T4 charges for it.
  const config = JSON.parse(
    readFileSync(sharedFile("models", "cardiffnlp__twitter-xlm-roberta-base-sentiment", "config.json"), "utf8"),
  );
  const { work, shape } = standInFor({
    key: "cardiffnlp",
    source: { hubId: "cardiffnlp/twitter-xlm-roberta-base-sentiment" },
  });
  // Independent of bench/lib/flops.ts: per layer Q, K, V, O (4 × h²) and the FFN (2 × h × ff); the head h² + labels × h.
  const h = config.hidden_size;
  const layers = config.num_hidden_layers;
  const tokenParams = layers * (4 * h * h + 2 * h * config.intermediate_size);
  const headParams = h * h + Object.keys(config.id2label ?? { 0: "", 1: "" }).length * h;
  const attention = (length: number) => 4 * length * length * h * layers; // QKᵀ and AV over length × length
  const ms = (flops: number) =>
    (shape.weightBytesRead / T4_FP32.memoryBandwidth) * 1000 +
    (flops / (T4_FP32.peakFlops * T4_FP32.efficiency)) * 1000 +
    T4_FP32.runOverheadMs;
  const cost = (lengths: number[], layout: "padded" | "packed") =>
    modelledRunMs(T4_FP32, batchWork(work, lengths, layout));

  test("the stand-in's shape is the config's: the arithmetic below prices the same model", () => {
    expect(shape).toMatchObject({ hidden: h, layers, tokenMatrixParams: tokenParams, rowMatrixParams: headParams });
    expect(shapeFromConfig(config).tokenMatrixParams).toBe(tokenParams);
  });

  test("padding dominates (three short rows beside a long one): packed costs the real tokens' matrices and each row's attention at the longest row, below padded", () => {
    const lengths = [12, 15, 9, 200];
    const total = 236;
    const padded = ms(2 * tokenParams * 4 * 200 + 2 * headParams * 4 + 4 * attention(200));
    const packed = ms(2 * tokenParams * total + 2 * headParams * 4 + 4 * attention(200));
    expect(cost(lengths, "padded")).toBeCloseTo(padded, 6);
    expect(cost(lengths, "packed")).toBeCloseTo(packed, 6);
    expect(cost(lengths, "packed")).toBeLessThan(cost(lengths, "padded"));
  });

  test("equal rows (32 of 128: nothing padded): packed costs what padded does, its attention per row, not over the packed 4,096", () => {
    const lengths = Array(32).fill(128);
    expect(cost(lengths, "packed")).toBeCloseTo(cost(lengths, "padded"), 6);
    expect(cost(lengths, "packed")).toBeCloseTo(
      ms(2 * tokenParams * 4096 + 2 * headParams * 32 + 32 * attention(128)),
      6,
    );
  });

  test("one row: packed and padded are the same run", () => {
    expect(cost([77], "packed")).toBeCloseTo(cost([77], "padded"), 9);
  });
});

describe("the device's maximum with packed batches", () => {
  test("packed batches: arrival order, cut where a batch would pass the row limit or the token cap; an over-long row alone", () => {
    expect(packedBatches([40, 30, 100, 10, 30, 12], 3, 100)).toEqual([[40, 30], [100], [10, 30, 12]]);
  });

  test("worked by hand: packed in arrival order against padded sorted, under the same row limit", () => {
    const limits = { maxBatchSize: 2, maxBatchTokens: 1000 };
    const load = [{ work: roundWork, lengths: [10, 30, 20] }];
    // Packed ≤ 45 tokens: [10, 30] (1 + 0.4 + 1 = 2.4 ms) and [20] (2.2 ms): 4.6 ms for 3 texts, nothing padded.
    const packed = deviceMaximum(ROUND, load, limits, { layout: "packed", maxTokens: 45 });
    expect(packed.msPerRequest).toBeCloseTo(4.6 / 3, 9);
    expect(packed.meanRows).toBe(1.5);
    expect(packed.paddingEfficiency).toBe(1);
    // Padded: sorted [10, 20] padded to 20 (2.4 ms) and [30] (2.3 ms): 4.7 ms, 60 of 70 tokens real.
    const padded = deviceMaximum(ROUND, load, limits);
    expect(padded.msPerRequest).toBeCloseTo(4.7 / 3, 9);
    expect(padded.paddingEfficiency).toBeCloseTo(60 / 70, 9);
  });
});
