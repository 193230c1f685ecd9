/**
 * Makes a random-weight checkpoint with real dimensions (or tiny ones) for benchmarks:
 *   bun convert/make-random.ts --family xlmr --out /tmp/xlmr-full [--size full|tiny] [--labels 3] [--seed 1]
 * The cost of running a model does not depend on its weights' values, so these stand in for the
 * real checkpoints where the Hub cannot be reached.
 */
import { parseArgs } from "node:util";
import { FULL_SIZE, TINY, writeRandomCheckpoint } from "./random-checkpoint.ts";

const { values } = parseArgs({
  options: { family: { type: "string" }, out: { type: "string" }, size: { type: "string", default: "full" }, labels: { type: "string", default: "2" }, seed: { type: "string", default: "1" } },
});
const family = values.family as "xlmr" | "roberta";
if ((family !== "xlmr" && family !== "roberta") || !values.out) {
  console.error("usage: bun convert/make-random.ts --family xlmr|roberta --out DIR [--size full|tiny] [--labels N] [--seed N]");
  process.exit(2);
}
const dims = values.size === "tiny" ? TINY[family] : FULL_SIZE[family];
const started = performance.now();
writeRandomCheckpoint(values.out, { ...dims, numLabels: Number(values.labels), seed: Number(values.seed) });
console.log(`${values.out}: ${values.size} ${family} checkpoint written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
