import { ConvertError, requireRegularFile } from "./errors.ts";

export const sha256 = (data: Uint8Array | string): string => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** sha256 of a file, memory-mapped: hashing a 1.1 GB checkpoint does not load it into the heap. */
export function sha256File(path: string): string {
  if (requireRegularFile(path).size === 0) return sha256(""); // mmap refuses zero bytes
  let m: Uint8Array;
  try {
    m = Bun.mmap(path, { shared: false });
  } catch (e) {
    throw new ConvertError(path, `cannot be mapped (${(e as Error).message})`);
  }
  return sha256(m);
}

/** The object id git (and the Hub's tree API) gives a small, non-LFS file. */
export const gitBlobSha1 = (data: Uint8Array): string =>
  new Bun.CryptoHasher("sha1").update(`blob ${data.byteLength}\0`).update(data).digest("hex");
