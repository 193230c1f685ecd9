/**
 * Makes a random-weight checkpoint with real dimensions (or tiny ones) for benchmarks:
 *   bun convert/random/make-random.ts --arch xlmr --out /tmp/xlmr-full [--size full|tiny] [--labels 3] [--seed 1]
 * The cost of running a model does not depend on its weights' values, so these stand in for the
 * real checkpoints where the Hub cannot be reached.
 */
import { parseArgs } from "node:util";
import { FULL_SIZE, TINY, writeRandomCheckpoint, type RandomArchitecture } from "./random-checkpoint.ts";

const { values } = parseArgs({
  options: {
    arch: { type: "string" },
    out: { type: "string" },
    size: { type: "string", default: "full" },
    labels: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
  },
});
const arch = values.arch as RandomArchitecture;
if (!(arch in FULL_SIZE) || !values.out) {
  console.error(
    "usage: bun convert/random/make-random.ts --arch xlmr|roberta|bert|distilbert|deberta|electra|modernbert --out DIR [--size full|tiny] [--labels N] [--seed N]",
  );
  process.exit(2);
}
const dims = values.size === "tiny" ? TINY[arch] : FULL_SIZE[arch];
const started = performance.now();
writeRandomCheckpoint(values.out, { ...dims, numLabels: Number(values.labels), seed: Number(values.seed) });
console.log(
  `${values.out}: ${values.size} ${arch} checkpoint written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
