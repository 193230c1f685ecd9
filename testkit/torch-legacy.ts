/**
 * Writes legacy PyTorch checkpoints (torch < 1.6) for tests: the five pickles torch.save wrote in a row,
 * then each storage as an 8-byte element count and its bytes. Test-only: the product only reads them.
 */
import { PickleWriter } from "./torch-zip.ts";

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

export interface LegacyStorage {
  key: string;
  bytes: Uint8Array;
  /** The element count written before the bytes; F32 elements (bytes / 4) unless said, to test a lie. */
  count?: number;
}

export interface LegacyOptions {
  magic?: bigint;
  /** The key list pickle; the storages' keys in order unless said, to test a missing or extra key. */
  keys?: string[];
  /** Replaces the sys info pickle (to smuggle a global into a pickle that is not the state dict). */
  sysInfo?: Uint8Array;
}

/** A legacy file: magic, protocol 1001, sys info, `stateDict` (a pickle), the key list, the storages. */
export function torchLegacy(stateDict: Uint8Array, storages: LegacyStorage[], opts: LegacyOptions = {}): Uint8Array {
  const magic = new PickleWriter()
    .proto()
    .long(opts.magic ?? LEGACY_MAGIC)
    .stop();
  const protocol = new PickleWriter().proto().int(1001).stop();
  const sysInfo = new PickleWriter().proto().emptyDict().mark();
  sysInfo.str("protocol_version").int(1001).str("little_endian").true().str("type_sizes").emptyDict().mark();
  sysInfo.str("short").int(2).str("int").int(4).str("long").int(4).setitems().setitems().stop();
  const keys = new PickleWriter().proto().emptyList().mark();
  for (const key of opts.keys ?? storages.map((s) => s.key)) keys.str(key);
  keys.appends().stop();

  const parts = [magic.bytes(), protocol.bytes(), opts.sysInfo ?? sysInfo.bytes(), stateDict, keys.bytes()];
  for (const s of storages) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(s.count ?? s.bytes.byteLength / 4), true);
    parts.push(count, s.bytes);
  }
  return new Uint8Array(Buffer.concat(parts));
}
