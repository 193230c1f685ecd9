import { inflateRawSync } from "node:zlib";
import { ConvertError } from "../errors.ts";

/** One entry of an archive: its size as the central directory declares it, and its bytes on demand. */
export interface ZipEntry {
  /** Uncompressed bytes, as declared; `read` returns exactly these or refuses. */
  size: number;
  read(): Uint8Array;
}

/** Deflate's best ratio (258-byte matches in 2 bits): an entry declaring more than this per compressed byte lies. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Random access to the entries of a zip archive held in memory (an mmap for real checkpoints).
 * PyTorch writes its checkpoints uncompressed, so entries are returned as views without a copy;
 * a deflated entry (a re-packed archive) is inflated, never past its declared size: a zip bomb stops
 * there, with bounded memory (the caller checks the declared size against what it expects).
 * Zip64 is understood (archives over 4 GiB).
 * Streaming zip libraries would copy a 1.1 GB archive through memory for no gain.
 */
export function readZipEntries(file: string, buf: Uint8Array): Map<string, ZipEntry> {
  const fail = (why: string): never => {
    throw new ConvertError(file, `not a valid zip archive: ${why}`);
  };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number) => Number(view.getBigUint64(o, true));

  let eocd = -1;
  for (let o = buf.byteLength - 22; o >= Math.max(0, buf.byteLength - 22 - 0xffff); o--) {
    if (u32(o) === 0x06054b50) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record (truncated?)");
  let count = u16(eocd + 10);
  let cdOffset = u32(eocd + 16);
  const locator = eocd - 20;
  if (locator >= 0 && u32(locator) === 0x07064b50) {
    const z64 = u64(locator + 8);
    if (z64 + 56 > buf.byteLength || u32(z64) !== 0x06064b50) fail("bad zip64 end-of-central-directory record");
    count = u64(z64 + 32);
    cdOffset = u64(z64 + 48);
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.byteLength || u32(p) !== 0x02014b50) fail(`central directory entry ${i} is damaged`);
    const method = u16(p + 10);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    if (p + 46 + nameLen + extraLen + commentLen > buf.byteLength)
      fail(`central directory entry ${i} runs past the file`);
    let local = u32(p + 42);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extended information: the 64-bit values, in order, for the fields saturated at 0xffffffff.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = u16(x);
      const len = u16(x + 2);
      if (x + 4 + len > xEnd) fail(`an extra field of central directory entry ${i} runs past its entry`);
      if (id === 0x0001) {
        let q = x + 4;
        const field = () => {
          if (q + 8 > x + 4 + len) fail(`the zip64 field of central directory entry ${i} is too short`);
          const v = u64(q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = field();
        if (compSize === 0xffffffff) compSize = field();
        if (local === 0xffffffff) local = field();
      }
      x += 4 + len;
    }
    p = xEnd + commentLen;
    if (local + 30 > buf.byteLength || u32(local) !== 0x04034b50) fail(`local header of ${name} is damaged`);
    const dataStart = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataStart + compSize > buf.byteLength) fail(`entry ${name} runs past the end of the file (truncated?)`);
    const raw = buf.subarray(dataStart, dataStart + compSize);
    if (method === 0) {
      if (compSize !== size) fail(`stored entry ${name} has mismatched sizes`);
      entries.set(name, { size, read: () => raw });
    } else if (method === 8) {
      if (size > compSize * MAX_DEFLATE_RATIO)
        fail(`entry ${name} declares ${size} bytes from ${compSize} compressed, more than deflate can encode`);
      entries.set(name, { size, read: () => inflateEntry(file, name, raw, size) });
    } else fail(`entry ${name} uses compression method ${method}`);
  }
  return entries;
}

/** Inflates an entry into at most its declared size: one that would grow past it is refused as soon as it does. */
function inflateEntry(file: string, name: string, raw: Uint8Array, size: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
  } catch (e) {
    const tooLarge = (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    throw new ConvertError(
      file,
      tooLarge
        ? `zip entry ${name} inflates past its declared ${size} bytes (a zip bomb?): refused`
        : `zip entry ${name} is not valid deflate data (${(e as Error).message})`,
    );
  }
  if (out.byteLength !== size)
    throw new ConvertError(file, `zip entry ${name} inflates to ${out.byteLength} bytes, its header says ${size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
