/**
 * Whether a batch runs packed (its rows' real tokens on one axis, attention per row in [rows, longest
 * row]) or padded (rows × its longest row) on a GPU. On a CPU packing always wins (no padding in the
 * matrices); on a GPU it saves the padding in the matrices for gathers the cost model does not charge,
 * against padded batches sorted by length, which carry little padding. The values come from the simulated T4
 * (bench/sim/packing.ts, reported by `bun bench/sim-t4.ts`, which flags them when they no longer match).
 */

export type GpuProvider = "cuda" | "tensorrt";

/**
 * Per provider, the most real tokens a batch may have to run packed; 0: every batch runs padded.
 * The simulated T4 (bench/results/2026-12-03-sim-t4-packing.md): at the device's best case (every
 * text sorted by length into the fullest batches) packed and padded are even (1.00 at a 4,096-token
 * cap), but live at saturation packed batches of up to 4,096 tokens reached 1.23 × the padded service
 * (51.1 against 41.6 req/s; 1.12 in an earlier run on the same busy host), and 1.29 × padded batches
 * given the same budget: the service cannot sort a stream as the best case does. CUDA runs packed up to 4,096 tokens. TensorRT stays padded: its
 * engine is built from the padded graph, and none from the packed one (it would need a profile over
 * the packed inputs, and TensorRT's parsing of the packed graph's gathers checked on a GPU).
 */
export const MAX_PACKED_TOKENS: Record<GpuProvider, number> = { cuda: 4096, tensorrt: 0 };

/** Whether a batch of `realTokens` tokens (its rows' lengths added) runs packed on this provider. */
export function packedOnGpu(provider: GpuProvider, realTokens: number): boolean {
  return realTokens <= MAX_PACKED_TOKENS[provider];
}
