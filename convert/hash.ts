import { readFileSync } from "node:fs";
import { requireRegularFile } from "./errors.ts";

export const sha256 = (data: Uint8Array | string): string => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** sha256 of a file, memory-mapped: hashing a 1.1 GB checkpoint does not load it into the heap. */
export function sha256File(path: string): string {
  requireRegularFile(path);
  const m = Bun.mmap(path, { shared: false });
  return m.byteLength === 0 ? sha256(readFileSync(path)) : sha256(m);
}

/** The object id git (and the Hub's tree API) gives a small, non-LFS file. */
export const gitBlobSha1 = (data: Uint8Array): string =>
  new Bun.CryptoHasher("sha1").update(`blob ${data.byteLength}\0`).update(data).digest("hex");
