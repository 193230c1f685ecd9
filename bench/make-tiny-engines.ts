/**
 * The five manifest keys as tiny random models (real labels, shared tokenizer fixtures), converted:
 *   bun bench/make-tiny-engines.ts /tmp/tiny-engines
 * For measuring the service's own overhead (HTTP, tokenization, batching) where inference is cheap.
 */
import { convertModels } from "../convert/pipeline.ts";
import { tinyManifestSources } from "../test/helpers/fixtures.ts";

const out = process.argv[2];
if (!out) {
  console.error("usage: bun bench/make-tiny-engines.ts OUT_DIR");
  process.exit(2);
}
await convertModels(tinyManifestSources(), { outDir: out, log: console.log });
