import { ConvertError } from "../errors.ts";
import { DTYPE_BYTES, elementCount, type Checkpoint, type CheckpointTensor, type DType } from "./types.ts";

const MAX_HEADER = 100 * 1024 * 1024; // the reference implementation's own limit

/**
 * Reads a safetensors file: u64 little-endian header length, JSON header, then the data.
 * Tensors are views over the buffer (an mmap for real checkpoints), so nothing is copied.
 * As the format requires (and its reference reader checks), the tensors' data tile the data section:
 * contiguous, no overlap, no byte left over; two tensors sharing bytes would be two names for one weight.
 */
export function readSafetensors(file: string, buf: Uint8Array): Checkpoint {
  const fail = (why: string): never => {
    throw new ConvertError(file, `not a valid safetensors file: ${why}`);
  };
  if (buf.byteLength < 8) fail("shorter than its 8-byte header length");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > buf.byteLength)
    fail(`header length ${headerLen} exceeds the file (${buf.byteLength} bytes): truncated?`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const tensors = new Map<string, CheckpointTensor>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info?.dtype !== "string" || !(info.dtype in DTYPE_BYTES))
      fail(`tensor ${name}: unsupported dtype ${String(info?.dtype)}`);
    const dtype = info.dtype as DType;
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor ${name}: bad shape`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`tensor ${name}: bad data_offsets`);
    const [begin, end] = offs as [number, number];
    const want = elementCount(shape as number[]) * DTYPE_BYTES[dtype];
    if (end < begin || end - begin !== want)
      fail(`tensor ${name}: data_offsets [${begin}, ${end}] do not hold ${want} bytes`);
    if (end > dataLen) fail(`tensor ${name}: data ends at ${end}, past the file's ${dataLen} data bytes (truncated?)`);
    const bytes = buf.subarray(dataStart + begin, dataStart + end);
    tensors.set(name, { name, dtype, shape: shape as number[], bytes: () => bytes });
    spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last = "the header";
  for (const { name, begin, end } of spans) {
    if (begin < covered)
      fail(`tensor ${name}: data_offsets [${begin}, ${end}] overlap ${last}'s, which end at ${covered}`);
    if (begin > covered)
      fail(
        `tensor ${name}: data_offsets start at ${begin}, leaving bytes ${covered}–${begin} after ${last} to no tensor`,
      );
    covered = end;
    last = `tensor ${name}`;
  }
  if (covered !== dataLen) fail(`${dataLen - covered} data bytes after ${last} belong to no tensor`);
  return { file, tensors };
}
