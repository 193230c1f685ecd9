/**
 * Writes PyTorch-style zip checkpoints for tests that need shapes the oracle fixtures lack
 * (strided views, hostile pickles). Test-only: the product only reads this format.
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
  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
  tensor(storageKey: string, numel: number, offset: number, shape: number[], stride: number[]) {
    this.global("torch._utils", "_rebuild_tensor_v2").mark();
    this.mark().str("storage").global("torch", "FloatStorage").str(storageKey).str("cpu").int(numel).tuple().persid();
    this.int(offset);
    this.mark();
    shape.forEach((d) => this.int(d));
    this.tuple();
    this.mark();
    stride.forEach((d) => this.int(d));
    this.tuple();
    this.false().global("collections", "OrderedDict").emptyTuple().reduce();
    return this.tuple().reduce();
  }
  bytes() {
    return new Uint8Array(this.parts);
  }
}

const enc = (s: string) => [...new TextEncoder().encode(s)];
const u32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const u16 = (n: number) => [n & 255, (n >>> 8) & 255];

/** A stored (uncompressed) zip, as torch.save writes. */
export function zipStored(files: Record<string, Uint8Array>): Uint8Array {
  const out: number[] = [];
  const central: number[] = [];
  let count = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = enc(name);
    const crc = Bun.hash.crc32(data);
    const offset = out.length;
    out.push(
      ...u32(0x04034b50),
      ...u16(20),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u32(crc),
      ...u32(data.length),
      ...u32(data.length),
      ...u16(n.length),
      ...u16(0),
      ...n,
    );
    for (const b of data) out.push(b);
    central.push(
      ...u32(0x02014b50),
      ...u16(20),
      ...u16(20),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u32(crc),
      ...u32(data.length),
      ...u32(data.length),
      ...u16(n.length),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u32(0),
      ...u32(offset),
      ...n,
    );
    count++;
  }
  const cdOffset = out.length;
  out.push(
    ...central,
    ...u32(0x06054b50),
    ...u16(0),
    ...u16(0),
    ...u16(count),
    ...u16(count),
    ...u32(central.length),
    ...u32(cdOffset),
    ...u16(0),
  );
  return new Uint8Array(out);
}
