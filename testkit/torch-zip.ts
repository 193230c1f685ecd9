/**
 * Writes PyTorch-style zip checkpoints (and the pickles of legacy ones, see torch-legacy.ts) for tests
 * that need shapes the oracle fixtures lack (strided views, hostile pickles). Test-only: the product
 * only reads these formats.
 */

/** Protocol-2 pickle opcodes, enough to spell a state dict or an attack on one. */
export class PickleWriter {
  private parts: number[] = [];
  private byte(...b: number[]) {
    this.parts.push(...b);
    return this;
  }
  proto() {
    return this.byte(0x80, 2);
  }
  global(module: string, name: string) {
    return this.byte(0x63, ...enc(`${module}\n${name}\n`));
  }
  str(s: string) {
    const b = enc(s);
    return this.byte(0x58, ...u32(b.length), ...b);
  }
  int(n: number) {
    return this.byte(0x4a, ...u32(n));
  }
  /** LONG1 of a non-negative integer, bytes as Python writes them (a legacy file's magic number needs 80 bits). */
  long(v: bigint) {
    const b: number[] = [];
    for (let x = v; x > 0n; x >>= 8n) b.push(Number(x & 255n));
    if (b.length > 0 && b[b.length - 1] & 0x80) b.push(0); // the sign byte Python adds
    return this.byte(0x8a, b.length, ...b);
  }
  none() {
    return this.byte(0x4e);
  }
  true() {
    return this.byte(0x88);
  }
  mark() {
    return this.byte(0x28);
  }
  tuple() {
    return this.byte(0x74);
  }
  emptyTuple() {
    return this.byte(0x29);
  }
  emptyDict() {
    return this.byte(0x7d);
  }
  emptyList() {
    return this.byte(0x5d);
  }
  appends() {
    return this.byte(0x65);
  }
  reduce() {
    return this.byte(0x52);
  }
  persid() {
    return this.byte(0x51);
  }
  setitems() {
    return this.byte(0x75);
  }
  false() {
    return this.byte(0x89);
  }
  stop() {
    return this.byte(0x2e);
  }
  raw(...b: number[]) {
    return this.byte(...b);
  }
  /**
   * torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). The storage is
   * the zip format's 5-tuple persistent id unless `storage.view` is given: legacy files add a sixth
   * element, None (`view: null`) or (view key, offset, numel).
   */
  tensor(storageKey: string, numel: number, offset: number, shape: number[], stride: number[], storage?: StorageSpec) {
    this.global("torch._utils", "_rebuild_tensor_v2").mark();
    this.mark()
      .str("storage")
      .global("torch", storage?.type ?? "FloatStorage")
      .str(storageKey)
      .str("cpu")
      .int(numel);
    const view = storage?.view;
    if (view) this.mark().str(view[0]).int(view[1]).int(view[2]).tuple();
    else if (view === null) this.none();
    this.tuple().persid();
    this.int(offset);
    this.mark();
    shape.forEach((d) => {
      this.int(d);
    });
    this.tuple();
    this.mark();
    stride.forEach((d) => {
      this.int(d);
    });
    this.tuple();
    this.false().global("collections", "OrderedDict").emptyTuple().reduce();
    return this.tuple().reduce();
  }
  bytes() {
    return new Uint8Array(this.parts);
  }
}

export interface StorageSpec {
  /** torch.<type>, FloatStorage unless said. */
  type?: string;
  view?: [key: string, offset: number, numel: number] | null;
}

/** [name, storage key, storage numel, offset, shape, stride, storage type and view]: one state dict entry. */
export type TensorSpec = [string, string, number, number, number[], number[], StorageSpec?];

/** A state dict {name: tensor, ...} as torch.save would pickle it; `extra` adds entries before the SETITEMS. */
export function stateDictPickle(tensors: TensorSpec[], extra?: (p: PickleWriter) => void): Uint8Array {
  const p = new PickleWriter().proto().global("collections", "OrderedDict").emptyTuple().reduce().mark();
  for (const [name, key, numel, offset, shape, stride, storage] of tensors)
    p.str(name).tensor(key, numel, offset, shape, stride, storage);
  extra?.(p);
  return p.setitems().stop().bytes();
}

const enc = (s: string) => [...new TextEncoder().encode(s)];
const u32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const u16 = (n: number) => [n & 255, (n >>> 8) & 255];

/** A deflated zip entry as a test spells it: its deflate stream and the size its headers declare (a bomb lies). */
export interface DeflatedEntry {
  deflated: Uint8Array;
  declaredSize: number;
}

/**
 * A zip of stored (uncompressed) entries, as torch.save writes, or deflated ones (a re-packed archive, or
 * a zip bomb whose headers declare less than it inflates to). CRCs are not checked by the reader: zero.
 */
export function zipStored(files: Record<string, Uint8Array | DeflatedEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: number[] = [];
  let offset = 0;
  let count = 0;
  for (const [name, entry] of Object.entries(files)) {
    const n = enc(name);
    const deflated = !(entry instanceof Uint8Array);
    const data = deflated ? entry.deflated : entry;
    const size = deflated ? entry.declaredSize : data.length;
    const method = deflated ? 8 : 0;
    const crc = deflated ? 0 : Bun.hash.crc32(data);
    const sizes = [...u32(crc), ...u32(data.length), ...u32(size)];
    const local = [...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0), ...sizes];
    parts.push(new Uint8Array([...local, ...u16(n.length), ...u16(0), ...n]), data);
    central.push(...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0));
    central.push(
      ...sizes,
      ...u16(n.length),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u32(0),
      ...u32(offset),
      ...n,
    );
    offset += 30 + n.length + data.length;
    count++;
  }
  const end = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(count), ...u16(count)];
  parts.push(new Uint8Array([...central, ...end, ...u32(central.length), ...u32(offset), ...u16(0)]));
  return Buffer.concat(parts);
}

/**
 * A raw deflate stream of `n` zero bytes, written by hand (one fixed-Huffman block: a literal 0, then
 * 258-byte copies at distance 1, 13 bits each): 1 GiB in about 7 MB, made without holding the
 * gigabyte (zlib would need it as input).
 */
export function deflatedZeros(n: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((3 + 8 + Math.ceil(n / 258) * 13 + 258 * 8 + 7) / 8) + 1);
  let bit = 0;
  /** Writes `len` bits of `value`, least significant first (deflate's header and extra bits). */
  const bits = (value: number, len: number) => {
    for (let i = 0; i < len; i++, bit++) if ((value >> i) & 1) out[bit >> 3] |= 1 << (bit & 7);
  };
  /** Writes a Huffman code, most significant bit first. */
  const code = (value: number, len: number) => {
    for (let i = len - 1; i >= 0; i--, bit++) if ((value >> i) & 1) out[bit >> 3] |= 1 << (bit & 7);
  };
  bits(1, 1); // BFINAL
  bits(1, 2); // BTYPE 01: fixed Huffman codes
  const literalZero = () => code(0x30, 8); // literals 0–143: 8 bits from 00110000
  let left = n;
  if (left > 0) {
    literalZero();
    left--;
  }
  for (; left >= 258; left -= 258) {
    code(0xc5, 8); // length 258: code 285, 8 bits from 11000000 + 5, no extra bits
    code(0, 5); // distance 1: code 0, 5 bits, no extra bits
  }
  for (; left > 0; left--) literalZero();
  code(0, 7); // end of block: code 256, 7 bits of 0
  return out.subarray(0, (bit + 7) >> 3);
}
