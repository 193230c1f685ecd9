import { describe, expect, test } from "bun:test";
import { MAX_PACKED_TOKENS, packedOnGpu } from "../../lib/gpu/packing.ts";
import { type DeviceModel, deviceMaximum, type ModelWork, T4_FP32 } from "./device.ts";
import { choosePacking, layoutRule, liveChoice, PACKING_MARGIN, providerDevice } from "./packing.ts";

/** 1 ms of weights and 1 ms of overhead per run, 0.01 ms per real (or padded) token; `square` ms per packed token². */
const ROUND: DeviceModel = { name: "round", memoryBandwidth: 1e9, peakFlops: 1e12, efficiency: 0.5, runOverheadMs: 1 };
const workWith = (square: number): ModelWork => ({
  padded: (rows, length) => ({ weightBytes: 1e6, flops: rows * length * 5e6 }),
  packed: (lengths) => {
    const total = lengths.reduce((n, l) => n + l, 0);
    return { weightBytes: 1e6, flops: (total * 0.01 + total * total * square) * 5e8 };
  },
});
const LIMITS = { maxBatchSize: 8, maxBatchTokens: 10_000 };
/** Eight texts in one batch: sorted or not, padded to 100 it is 800 tokens for 440 real ones. */
const SPREAD = [10, 100, 10, 100, 10, 100, 10, 100];

describe("choosing packed or padded from the simulated maximum", () => {
  test("with attention free, packing's saved padding wins: the cap with the highest maximum is chosen", () => {
    const loads = [{ work: workWith(0), lengths: SPREAD }];
    const c = choosePacking("cuda", ROUND, loads, LIMITS, [100, 1000]);
    const best = c.packed.reduce((b, p) => (p.maximum.requestsPerS > b.maximum.requestsPerS ? p : b));
    expect(best.maximum.requestsPerS).toBeGreaterThan(c.padded.requestsPerS * (1 + PACKING_MARGIN));
    expect(c.maxPackedTokens).toBe(best.maxTokens);
    // Each alternative is the device's maximum under that packing, not a number of its own.
    expect(c.padded).toEqual(deviceMaximum(ROUND, loads, LIMITS));
    expect(c.packed[1].maximum).toEqual(deviceMaximum(ROUND, loads, LIMITS, { layout: "packed", maxTokens: 1000 }));
  });

  test("with attention over the packed length dear, padded stays (cap 0)", () => {
    const loads = [{ work: workWith(1e-3), lengths: SPREAD }];
    const c = choosePacking("cuda", ROUND, loads, LIMITS, [100, 1000]);
    for (const p of c.packed) expect(p.maximum.requestsPerS).toBeLessThan(c.padded.requestsPerS);
    expect(c.maxPackedTokens).toBe(0);
  });

  test("TensorRT is simulated as the run's device with half the fixed cost per run; CUDA as the device itself", () => {
    expect(providerDevice("cuda", ROUND)).toBe(ROUND);
    expect(providerDevice("tensorrt", T4_FP32)).toMatchObject({
      memoryBandwidth: T4_FP32.memoryBandwidth,
      runOverheadMs: T4_FP32.runOverheadMs / 2,
    });
  });
});

describe("how the simulated service lays out a batch (SIM_PACKING)", () => {
  test("packed:N packs a batch of up to N real tokens, pads a larger one; packed packs all; padded pads all", () => {
    const capped = layoutRule("packed:100");
    expect(capped("cuda", [50, 50])).toBe("packed");
    expect(capped("cuda", [50, 51])).toBe("padded");
    expect(layoutRule("packed")("cuda", [5000, 5000])).toBe("packed");
    expect(layoutRule("padded")("cuda", [1])).toBe("padded");
  });

  test("service (the default) follows lib/gpu/packing.ts per provider, and never packs on the CPU", () => {
    const rule = layoutRule();
    for (const provider of ["cuda", "tensorrt"] as const) {
      const cap = MAX_PACKED_TOKENS[provider];
      expect(rule(provider, [cap + 1])).toBe("padded");
      expect(packedOnGpu(provider, cap + 1)).toBe(false);
      if (cap > 0) expect(rule(provider, [cap])).toBe("packed");
    }
    expect(rule("cpu", [1])).toBe("padded");
  });

  test("anything else is refused, naming the setting", () => {
    for (const bad of ["pack", "packed:", "packed:0", "packed:-5", "PADDED"])
      expect(() => layoutRule(bad)).toThrow(`got ${bad}`);
  });
});

describe("the live saturation runs decide where the best case is even", () => {
  const loads = [{ work: workWith(0), lengths: SPREAD }];
  const even = choosePacking("cuda", ROUND, loads, LIMITS, [100, 1000]);
  const padded = { ...even, maxPackedTokens: 0 };

  test("packed beating the padded run by the margin is chosen at its cap, with the ratio", () => {
    const c = liveChoice(padded, 40, 40 * (1 + PACKING_MARGIN) + 0.01, 1000);
    expect([c.maxPackedTokens, c.live]).toEqual([1000, (40 * (1 + PACKING_MARGIN) + 0.01) / 40]);
  });

  test("within the margin, or behind, the choice stands", () => {
    expect(liveChoice(padded, 40, 40.5, 1000)).toBe(padded);
    expect(liveChoice(padded, 40, 30, 1000)).toBe(padded);
  });
});
