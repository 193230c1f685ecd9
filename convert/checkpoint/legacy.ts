import { ConvertError } from "../errors.ts";
import { PickleDict, readPickleAt, type StorageRef } from "./pickle.ts";
import { STORAGE_DTYPE, stateDictTensors } from "./state-dict.ts";
import { DTYPE_BYTES, type Checkpoint } from "./types.ts";

/** torch/serialization.py's MAGIC_NUMBER and PROTOCOL_VERSION for the legacy format. */
const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/**
 * Reads a legacy PyTorch checkpoint (torch < 1.6, or `_use_new_zipfile_serialization=False`): five
 * pickles in a row (magic number, protocol version, sys info, the state dict, the storage keys), then
 * for each key in that order an 8-byte little-endian element count and the storage's raw bytes.
 * Every pickle goes through the same restricted reader as a zip checkpoint's data.pkl; tensors are
 * views over `buf` (an mmap for real checkpoints).
 */
export function readTorchLegacy(file: string, buf: Uint8Array): Checkpoint {
  // Typed as a whole so that `if (!x) fail(…)` narrows x.
  const fail: (why: string) => never = (why) => {
    throw new ConvertError(file, `not a valid legacy PyTorch checkpoint: ${why}`);
  };
  let pos = 0;
  const next = () => {
    const read = readPickleAt(file, buf, pos);
    pos = read.end;
    return read;
  };
  const magic = next().value;
  if (magic !== MAGIC_NUMBER) fail(`wrong magic number ${String(magic)}`);
  const protocol = next().value;
  if (protocol !== PROTOCOL_VERSION) fail(`protocol version ${String(protocol)}, expected ${PROTOCOL_VERSION}`);
  const sysInfo = next().value;
  if (!(sysInfo instanceof PickleDict)) fail("the third pickle is not the sys info dict");
  const littleEndian = (sysInfo as PickleDict).entries.get("little_endian");
  if (littleEndian === false) throw new ConvertError(file, "big-endian checkpoints are not supported");
  if (littleEndian !== true) fail("the sys info does not say the byte order");
  const stateDict = next();
  const keys = next().value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) fail("the storage key list is not strings");

  const storages = storageTable(file, stateDict.storages);
  const order = keys as string[];
  const listed = new Map<string, { numel: number; item: number }>();
  for (const key of order) {
    if (listed.has(key)) fail(`storage ${key} is listed twice`);
    const storage = storages.get(key);
    if (!storage) fail(`storage ${key} is listed but no tensor references it`);
    listed.set(key, storage);
  }
  for (const key of storages.keys()) if (!listed.has(key)) fail(`storage ${key} is missing from the key list`);

  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = new Map<string, { bytes: Uint8Array; item: number }>();
  for (const [key, { numel, item }] of listed) {
    if (pos + 8 > buf.byteLength) fail(`the file ends before storage ${key}'s element count (truncated?)`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(numel)) fail(`storage ${key} holds ${count} elements, its reference says ${numel}`);
    const start = pos + 8;
    if (numel * item > buf.byteLength - start)
      fail(
        `storage ${key} needs ${numel * item} bytes from byte ${start}, the file has ${buf.byteLength} (truncated?)`,
      );
    pos = start + numel * item;
    data.set(key, { bytes: buf.subarray(start, pos), item });
  }
  if (pos !== buf.byteLength) fail(`${buf.byteLength - pos} bytes after the last storage`);

  const tensors = stateDictTensors(file, stateDict.value, (name, storage) => {
    const stored = data.get(storage.key);
    // Every storage the state dict references was checked to be listed, so it was read.
    if (!stored) fail(`tensor ${name}: storage ${storage.key} was not read`);
    const { bytes, item } = stored;
    if (!storage.view) return () => bytes;
    const { offset, numel } = storage.view;
    if ((offset + numel) * item > bytes.byteLength)
      fail(`tensor ${name}: view ${storage.view.key} ends past its storage ${storage.key}`);
    const slice = bytes.subarray(offset * item, (offset + numel) * item);
    return () => slice;
  });
  return { file, tensors };
}

/**
 * Each storage the state dict references, with its size as the data section lays it out. The same
 * key with another type or size makes that layout ambiguous, so it is refused (torch takes the first).
 */
function storageTable(file: string, refs: StorageRef[]): Map<string, { numel: number; item: number }> {
  const table = new Map<string, { storageType: string; numel: number; item: number }>();
  for (const ref of refs) {
    const dtype = STORAGE_DTYPE[ref.storageType];
    if (!dtype) throw new ConvertError(file, `storage ${ref.key}: unsupported storage ${ref.storageType}`);
    const item = DTYPE_BYTES[dtype];
    const seen = table.get(ref.key);
    if (!seen) table.set(ref.key, { storageType: ref.storageType, numel: ref.numel, item });
    else if (seen.storageType !== ref.storageType || seen.numel !== ref.numel)
      throw new ConvertError(
        file,
        `storage ${ref.key} is referenced as ${seen.storageType}(${seen.numel}) and as ${ref.storageType}(${ref.numel})`,
      );
  }
  return table;
}
