import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tempDir } from "../../testkit/fixtures.ts";
import { measureGemm, openMatMul, pseudoRandom, runMatMul, writeMatMulModel } from "./gemm.ts";

/** X·W computed here, row-major, in doubles. */
function product(x: Float32Array, w: Float32Array, tokens: number, k: number, n: number): number[] {
  const y: number[] = [];
  for (let r = 0; r < tokens; r++)
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += x[r * k + i] * w[i * n + c];
      y.push(sum);
    }
  return y;
}

describe("the GEMM micro-benchmark", () => {
  test("the one-node MatMul graph, run by onnxruntime, gives the product computed in JavaScript", async () => {
    const dir = tempDir("matmul");
    try {
      const [tokens, k, n] = [3, 5, 4];
      const w = pseudoRandom(k * n, 1);
      const x = pseudoRandom(tokens * k, 2);
      const session = await openMatMul(writeMatMulModel(dir, w, k, n), 1);
      const y = await runMatMul(session, x, tokens, k);
      // The tokens dimension is free: one session takes any number of rows.
      const firstRow = await runMatMul(session, x.subarray(0, k), 1, k);
      await session.release();
      const want = product(x, w, tokens, k, n);
      expect(want.some((v) => Math.abs(v) > 0.01)).toBe(true);
      const maxDiff = (got: Float32Array, expected: number[]) =>
        Math.max(...expected.map((v, i) => Math.abs(v - got[i])));
      expect(y.dims).toEqual([tokens, n]);
      expect(maxDiff(y.data, want)).toBeLessThan(1e-6);
      expect(firstRow.dims).toEqual([1, n]);
      expect(maxDiff(firstRow.data, want.slice(0, n))).toBeLessThan(1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a weight of the wrong size is refused before a graph is written", () => {
    expect(() => writeMatMulModel("/nonexistent", new Float32Array(6), 2, 4)).toThrow("a 2 × 4 weight has 8 values");
  });

  test("measureGemm at a tiny budget times each of the encoder's three products and reports the best rate", async () => {
    const m = await measureGemm({ tokens: [8, 16], hidden: 16, intermediate: 64, secondsPerShape: 0.02, threads: 1 });
    expect(m.threads).toBe(1);
    expect(m.shapes.map((s) => [s.tokens, s.k, s.n])).toEqual([
      [8, 16, 16],
      [16, 16, 16],
      [8, 16, 64],
      [16, 16, 64],
      [8, 64, 16],
      [16, 64, 16],
    ]);
    for (const s of m.shapes) {
      expect(s.runs).toBeGreaterThan(0);
      expect(s.gflops).toBeCloseTo((2 * s.tokens * s.k * s.n * s.runs) / s.seconds / 1e9, 9);
    }
    expect(Number.isFinite(m.gflops) && m.gflops > 0).toBe(true);
    expect(m.gflops).toBe(Math.max(...m.shapes.map((s) => s.gflops)));
  });

  test("on two cores it also runs two one-thread sessions side by side, in workers, and sums their rates", async () => {
    const m = await measureGemm({ tokens: [8], hidden: 16, intermediate: 32, secondsPerShape: 0.05, threads: 2 });
    const sideBySide = m.shapes.filter((s) => s.sessions === 2);
    expect(sideBySide.map((s) => [s.tokens, s.k, s.n, s.threads])).toEqual([
      [8, 16, 16, 1],
      [8, 16, 32, 1],
      [8, 32, 16, 1],
    ]);
    for (const s of sideBySide) expect(s.runs).toBeGreaterThan(1); // both workers ran
    expect(m.gflops).toBe(Math.max(...m.shapes.map((s) => s.gflops)));
  });
});
