/**
 * Whether a batch runs packed (its rows' real tokens on one axis, attention restricted to each row by
 * a block-diagonal mask) or padded (rows × its longest row) on a GPU. On a CPU packing always wins
 * (no padding, and attention is a small share); on a GPU it trades padding for attention over the whole
 * packed length, which the kernels compute under the mask. The values come from the simulated T4
 * (bench/sim/packing.ts, reported by `bun bench/sim-t4.ts`, which flags them when they no longer match).
 */

export type GpuProvider = "cuda" | "tensorrt";

/**
 * Per provider, the most real tokens a batch may have to run packed; 0: every batch runs padded.
 * The simulated T4 (bench/results/2026-12-03-sim-t4-packing.md) found padded batches grouped by length
 * ahead of packed ones at every cap for both providers: the best cap, 512 tokens, reached 0.88 (CUDA)
 * and 0.89 (TensorRT) of padded's simulated maximum, and 0.99 of padded's live saturation. Both stay padded.
 */
export const MAX_PACKED_TOKENS: Record<GpuProvider, number> = { cuda: 0, tensorrt: 0 };

/** Whether a batch of `realTokens` tokens (its rows' lengths added) runs packed on this provider. */
export function packedOnGpu(provider: GpuProvider, realTokens: number): boolean {
  return realTokens <= MAX_PACKED_TOKENS[provider];
}
