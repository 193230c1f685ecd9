/**
 * The settings both the service and convert read, declared once for both tables: where the engines
 * are, and the largest batch (the service's cap, and the batch `convert --trt` builds engines for).
 */
import { integer, path, type Setting } from "./settings.ts";

export const ENGINES_DIR: Setting<string> = {
  name: "ENGINES_DIR",
  type: path,
  default: "./engines",
  doc: "the engines folder: what `bun run convert` writes and the service loads (`index.json`, a folder per model, `tokenizers/`)",
};

export const MAX_BATCH_SIZE: Setting<number> = {
  name: "MAX_BATCH_SIZE",
  type: integer(1, 1024),
  default: 32,
  doc: "rows per inference call (CPU models: `CPU_MAX_BATCH_SIZE`), and the largest batch `convert --trt` builds engines for",
  measured:
    "bench/results/2026-11-30-performance.md#tuning-the-gpu-defaults-saturation-64-clients-60-s-each-all-else-default",
};
