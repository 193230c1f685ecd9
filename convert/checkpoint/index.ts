import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConvertError } from "../errors.ts";
import { readSafetensors } from "./safetensors.ts";
import { readTorchZip } from "./torch.ts";
import type { Checkpoint } from "./types.ts";

export type { Checkpoint, CheckpointTensor } from "./types.ts";

/** The weight files we read, in order of preference: safetensors needs no pickle at all. */
export const WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"] as const;

/** Opens the checkpoint in a folder. The file is memory-mapped: a 1.1 GB model is not read into the heap. */
export function openCheckpoint(dir: string): Checkpoint {
  const name = WEIGHT_FILES.find((f) => existsSync(join(dir, f)));
  if (!name) throw new ConvertError(dir, `no weights: expected one of ${WEIGHT_FILES.join(", ")}`);
  const file = join(dir, name);
  const buf = Bun.mmap(file, { shared: false });
  return name === "model.safetensors" ? readSafetensors(file, buf) : readTorchZip(file, buf);
}
