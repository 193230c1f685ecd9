/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-30-performance.md (section 2, the roofline).
 * The box's GEMM rate: the roofline's limit, as `bun run bench` measures it at the start of a run.
 * `bun bench/studies/gemm.ts [--tokens 128,512,2048] [--seconds 0.4] [--threads N] [--hidden 768] [--intermediate 3072]`
 * See bench/lib/gemm.ts.
 */
import { parseArgs } from "node:util";
import { measureGemm } from "../lib/gemm.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    tokens: { type: "string", default: "128,512,2048" },
    seconds: { type: "string", default: "0.4" },
    threads: { type: "string" },
    hidden: { type: "string", default: "768" },
    intermediate: { type: "string", default: "3072" },
  },
});

const m = await measureGemm({
  tokens: values.tokens.split(",").map(Number),
  secondsPerShape: Number(values.seconds),
  threads: values.threads ? Number(values.threads) : undefined,
  hidden: Number(values.hidden),
  intermediate: Number(values.intermediate),
});
console.log(
  `MatMul through onnxruntime-node, FP32, on ${m.threads} cores (one session, and one-thread sessions side by side)`,
);
for (const s of m.shapes) {
  const layout = s.sessions > 1 ? `${s.sessions} sessions × 1 thread` : `1 session × ${s.threads} threads`;
  const shape = `[${s.tokens}, ${s.k}] × [${s.k}, ${s.n}], ${layout}`.padEnd(52);
  console.log(`${shape} ${s.gflops.toFixed(1).padStart(8)} GFLOP/s (${s.runs} runs in ${s.seconds.toFixed(2)} s)`);
}
console.log(`best sustained: ${m.gflops.toFixed(1)} GFLOP/s`);
