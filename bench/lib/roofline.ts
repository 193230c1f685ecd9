/**
 * The roofline line of a bench report: the FLOP rate a peer achieved (its requests per second × the
 * FLOPs one request costs) against the box's measured GEMM rate (gemm.ts). Pure, so any bench script
 * prints the same line from its own numbers.
 */
import type { ModelRecord } from "../../lib/store/index.ts";
import { meanForwardFlops, shapeFromRecord } from "./flops.ts";

/**
 * The mean FLOPs of one request (one text through every served model): each model's forward at the
 * text's token count under the model's tokenizer family, truncated at its maxLength. `lengths`: the
 * same texts' token counts (with special tokens, untruncated) per family.
 */
export function requestFlops(
  models: Pick<ModelRecord, "key" | "weights" | "weightProof" | "labels" | "maxLength" | "tokenizer">[],
  lengths: Map<string, number[]>,
): number {
  return models.reduce((sum, m) => {
    const family = lengths.get(m.tokenizer.family);
    if (!family) throw new Error(`${m.key}: no token lengths for its tokenizer family ${m.tokenizer.family}`);
    return sum + meanForwardFlops(shapeFromRecord(m), family, m.maxLength);
  }, 0);
}

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "–");

/**
 * A peer's achieved rate against the limit: `perSecond` requests (or texts) per second, each costing
 * `flopsPerRequest`, against `gemmGflops`. The line reads "achieved X GFLOP/s = Y% of the box's
 * measured GEMM rate Z GFLOP/s"; a number not measured shows as –.
 */
export function roofline(perSecond: number, flopsPerRequest: number, gemmGflops: number) {
  const achievedGflops = (perSecond * flopsPerRequest) / 1e9;
  const share = achievedGflops / gemmGflops;
  const line =
    `achieved ${fixed(achievedGflops, 1)} GFLOP/s = ${fixed(100 * share, 1)}% ` +
    `of the box's measured GEMM rate ${fixed(gemmGflops, 1)} GFLOP/s`;
  return { achievedGflops, share, line };
}
