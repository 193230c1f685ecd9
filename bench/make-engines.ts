/**
 * The five manifest keys as random-weight models (their real labels, the shared tokenizer fixtures),
 * converted, for benchmarks:
 *   bun bench/make-engines.ts --size full /tmp/full-engines   # real dimensions: real inference cost (5 GB)
 *   bun bench/make-engines.ts --size tiny /tmp/tiny-engines   # the service's own overhead only
 * The cost of running a model does not depend on its weights' values.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { convertModels } from "../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";

const { values, positionals } = parseArgs({
  options: { size: { type: "string", default: "tiny" } },
  allowPositionals: true,
});
const out = positionals[0];
if (!out || (values.size !== "tiny" && values.size !== "full")) {
  console.error("usage: bun bench/make-engines.ts [--size tiny|full] OUT_DIR");
  process.exit(2);
}
const scratch = tempDir("bench-checkpoints");
await convertModels(tinyManifestSources(join(scratch, "src"), 7, values.size), { outDir: out, log: console.log });
rmSync(scratch, { recursive: true, force: true });
