import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConvertError, requireRegularFile } from "../errors.ts";
import { readTorchLegacy } from "./legacy.ts";
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
  requireRegularFile(file);
  if (statSync(file).size === 0) throw new ConvertError(file, "empty file"); // mmap refuses zero bytes
  let buf: Uint8Array;
  try {
    buf = Bun.mmap(file, { shared: false });
  } catch (e) {
    throw new ConvertError(file, `cannot be mapped (${(e as Error).message})`);
  }
  if (name === "model.safetensors") return readSafetensors(file, buf);
  return readPyTorch(file, buf);
}

/** A pytorch_model.bin is told apart by content: the name is the same for both of torch's formats. */
function readPyTorch(file: string, buf: Uint8Array): Checkpoint {
  const isZip = buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04; // "PK\x03\x04", torch ≥ 1.6
  if (isZip) return readTorchZip(file, buf);
  if (buf[0] === 0x80) return readTorchLegacy(file, buf); // PROTO: the legacy format's first pickle
  throw new ConvertError(file, "neither a zip (torch ≥ 1.6) nor a legacy pickle (torch < 1.6) PyTorch checkpoint");
}
