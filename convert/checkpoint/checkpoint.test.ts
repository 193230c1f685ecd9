import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { deflateRawSync } from "node:zlib";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { deflatedZeros, PickleWriter, stateDictPickle, zipStored } from "../../testkit/torch-zip.ts";
import { ConvertError } from "../errors.ts";
import { openCheckpoint } from "./index.ts";
import { readSafetensors } from "./safetensors.ts";
import { readTorchZip } from "./torch.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const f32 = (b: Uint8Array) => Array.from(new Float32Array(b.slice().buffer));

describe("torch zip checkpoints", () => {
  test("tensors sharing one storage keep their own offsets (oracle fixture: classifier biases share a storage)", () => {
    const ck = openCheckpoint(join(ORACLE, "xlmr-tiny-bin"));
    const dense = ck.tensors.get("classifier.dense.bias")!;
    const out = ck.tensors.get("classifier.out_proj.bias")!;
    expect(dense.shape).toEqual([32]);
    expect(out.shape).toEqual([2]);
    // dense starts 2 elements into the storage out_proj starts at: the two views overlap by nothing but share the buffer.
    expect(dense.bytes().buffer).toBe(out.bytes().buffer);
    expect(dense.bytes().byteOffset - out.bytes().byteOffset).toBe(8);
    expect(ck.tensors.get("roberta.embeddings.position_ids")!.dtype).toBe("I64");
  });

  test("a strided (transposed) view is gathered into C order", () => {
    const storage = new Float32Array([0, 1, 2, 3, 4, 5]); // a 2x3 matrix [[0,1,2],[3,4,5]]
    const pkl = stateDictPickle([["t", "0", 6, 0, [3, 2], [1, 3]]]); // its transpose, 3x2
    const ck = readTorchZip(
      "t.bin",
      zipStored({ "archive/data.pkl": pkl, "archive/data/0": new Uint8Array(storage.buffer) }),
    );
    expect(f32(ck.tensors.get("t")!.bytes())).toEqual([0, 3, 1, 4, 2, 5]);
  });

  test("a forbidden global is refused with the file and the global named", () => {
    const evil = new PickleWriter().proto().global("os", "system").str("echo pwned").raw(0x85).reduce().stop().bytes();
    const zip = zipStored({ "archive/data.pkl": evil });
    expect(() => readTorchZip("evil.bin", zip)).toThrow(
      /evil\.bin: refused pickle at byte \d+: forbidden global os\.system/,
    );
  });

  test("a storage view (a legacy-only persistent id) is refused rather than misplaced", () => {
    const pkl = stateDictPickle([["t", "0", 6, 0, [2], [1], { view: ["1", 2, 2] }]]);
    const zip = zipStored({ "archive/data.pkl": pkl, "archive/data/0": new Uint8Array(24) });
    expect(() => readTorchZip("v.bin", zip)).toThrow(/v\.bin: tensor t: storage views exist only in legacy files/);
  });

  test("an opcode a state dict never uses is refused", () => {
    const zip = zipStored({ "archive/data.pkl": new Uint8Array([0x80, 2, 0x69, 0x2e]) }); // INST
    expect(() => readTorchZip("x.bin", zip)).toThrow(/opcode 0x69 is not allowed/);
  });

  test("a tensor reaching past its storage is an error, not a read out of bounds", () => {
    const pkl = stateDictPickle([["t", "0", 6, 4, [4], [1]]]);
    const ck = readTorchZip("short.bin", zipStored({ "archive/data.pkl": pkl, "archive/data/0": new Uint8Array(24) }));
    expect(() => ck.tensors.get("t")!.bytes()).toThrow(/short\.bin: tensor t: reaches element 7/);
  });

  test("a FIFO in place of the weights is refused by name before it is opened or mapped", async () => {
    const dir = tempDir("fifo");
    expect(await Bun.spawn(["mkfifo", join(dir, "pytorch_model.bin")]).exited).toBe(0);
    expect(() => openCheckpoint(dir)).toThrow(/pytorch_model\.bin: is a FIFO, not a regular file: refused unopened/);
  });

  test("a central directory entry whose fields run past the file is a ConvertError naming it, not a RangeError", () => {
    const zip = zipStored({ "archive/data.pkl": stateDictPickle([]), "archive/byteorder": enc("little") });
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    const central = view.getUint32(zip.byteLength - 22 + 16, true); // the end record's central directory offset
    view.setUint16(central + 30, 0xffff, true); // extra field length
    expect(() => readTorchZip("x.bin", zip)).toThrow(
      /x\.bin: not a valid zip archive: central directory entry 0 runs past the file/,
    );
    // 8 bytes of extra field: the next entry's signature, read as a field of 0x0201 bytes.
    view.setUint16(central + 30, 8, true);
    expect(() => readTorchZip("x.bin", zip)).toThrow(/x\.bin: .*an extra field of central directory entry 0 runs past/);
  });

  test("a truncated archive names the file", () => {
    const dir = tempDir("trunc");
    const whole = Bun.mmap(join(ORACLE, "roberta-tiny-bin", "pytorch_model.bin"));
    writeFileSync(join(dir, "pytorch_model.bin"), whole.subarray(0, whole.length - 100));
    expect(() => openCheckpoint(dir)).toThrow(ConvertError);
    expect(() => openCheckpoint(dir)).toThrow(/pytorch_model\.bin: not a valid zip archive/);
  });
});

describe("torch zip checkpoints: entries are read only up to the bytes the pickle declares", () => {
  const GIB = 1024 ** 3;
  // One tensor of 1024 floats: its storage must be 4096 bytes.
  const pkl = stateDictPickle([["t", "0", 1024, 0, [1024], [1]]]);
  const checkpoint = (data: Parameters<typeof zipStored>[0][string]) => {
    const dir = tempDir("zip-bomb");
    writeFileSync(join(dir, "pytorch_model.bin"), zipStored({ "archive/data.pkl": pkl, "archive/data/0": data }));
    return dir;
  };

  test("a zip bomb (7 MB deflating to 1 GiB, declared 4096 bytes) is refused naming the file, memory bounded", () => {
    const dir = checkpoint({ deflated: deflatedZeros(GIB), declaredSize: 4096 });
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const tensor = openCheckpoint(dir).tensors.get("t")!;
    expect(() => tensor.bytes()).toThrow(ConvertError);
    expect(() => tensor.bytes()).toThrow(
      /pytorch_model\.bin: zip entry archive\/data\/0 inflates past its declared 4096 bytes \(a zip bomb\?\)/,
    );
    // Inflated whole, it would take a gigabyte (twice, were the bytes copied out of the inflater).
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  test("an entry declaring more bytes than its storage holds is refused at open, before any inflation", () => {
    const dir = checkpoint({ deflated: deflatedZeros(GIB), declaredSize: GIB });
    expect(() => openCheckpoint(dir)).toThrow(
      /pytorch_model\.bin: tensor t: storage 0 is 1024 × FloatStorage \(4096 bytes\), its archive entry archive\/data\/0 declares 1073741824/,
    );
    expect(() => openCheckpoint(checkpoint(new Uint8Array(4100)))).toThrow(/\(4096 bytes\), .* declares 4100/);
  });

  test("a central directory declaring more than deflate can encode from the entry's bytes is refused", () => {
    const dir = checkpoint({ deflated: deflateRawSync(new Uint8Array(4096)), declaredSize: GIB * 3 });
    expect(() => openCheckpoint(dir)).toThrow(
      /pytorch_model\.bin: not a valid zip archive: entry archive\/data\/0 declares 3221225472 bytes from \d+ compressed, more than deflate can encode/,
    );
  });

  test("a deflated entry that inflates to its declared size still reads (a re-packed archive)", () => {
    const values = new Float32Array(1024).map((_, i) => i);
    const deflated = deflateRawSync(new Uint8Array(values.buffer));
    const tensor = openCheckpoint(checkpoint({ deflated, declaredSize: 4096 })).tensors.get("t")!;
    expect(f32(tensor.bytes())).toEqual(Array.from(values));
    const short = openCheckpoint(checkpoint({ deflated: deflatedZeros(4000), declaredSize: 4096 })).tensors.get("t")!;
    expect(() => short.bytes()).toThrow(/zip entry archive\/data\/0 inflates to 4000 bytes, its header says 4096/);
  });
});

describe("safetensors", () => {
  const file = join(ORACLE, "xlmr-tiny-safetensors", "model.safetensors");
  test("reads every tensor with its dtype and shape", () => {
    const ck = openCheckpoint(join(ORACLE, "xlmr-tiny-safetensors"));
    expect(ck.tensors.get("roberta.embeddings.word_embeddings.weight")!.shape).toEqual([1000, 32]);
    expect(ck.tensors.get("classifier.out_proj.weight")!.bytes().byteLength).toBe(3 * 32 * 4);
  });
  test("a truncated file is refused with the file named", () => {
    const buf = new Uint8Array(Bun.mmap(file));
    expect(() => readSafetensors("m.safetensors", buf.subarray(0, buf.length - 10))).toThrow(
      /m\.safetensors: not a valid safetensors file: .*past the file/,
    );
    expect(() => readSafetensors("m.safetensors", buf.subarray(0, 100))).toThrow(/header length \d+ exceeds the file/);
    expect(() => readSafetensors("m.safetensors", buf.subarray(0, 4))).toThrow(/shorter than its 8-byte header/);
  });
  /** A safetensors file of 2×2 F32 tensors at the given offsets, with `dataBytes` of data. */
  const safetensors = (offsets: Record<string, [number, number]>, dataBytes: number, shape = [2, 2]) => {
    const header = JSON.stringify(
      Object.fromEntries(Object.entries(offsets).map(([n, o]) => [n, { dtype: "F32", shape, data_offsets: o }])),
    );
    const buf = new Uint8Array(8 + header.length + dataBytes);
    new DataView(buf.buffer).setBigUint64(0, BigInt(header.length), true);
    buf.set(new TextEncoder().encode(header), 8);
    return buf;
  };
  test("a header that lies about a tensor's size is refused", () => {
    expect(() => readSafetensors("lie.safetensors", safetensors({ w: [0, 12] }, 16))).toThrow(/do not hold 16 bytes/);
  });
  test("tensors whose data overlap are refused, naming both (the format requires them contiguous)", () => {
    const overlap = safetensors({ a: [0, 16], b: [8, 24] }, 24);
    expect(() => readSafetensors("o.safetensors", overlap)).toThrow(
      /o\.safetensors: not a valid safetensors file: tensor b: data_offsets \[8, 24\] overlap tensor a's, which end at 16/,
    );
    const same = safetensors({ a: [0, 16], b: [0, 16] }, 16);
    expect(() => readSafetensors("o.safetensors", same)).toThrow(/tensor b: data_offsets \[0, 16\] overlap tensor a's/);
  });
  test("data that belong to no tensor (a gap, or bytes after the last) are refused", () => {
    expect(() => readSafetensors("g.safetensors", safetensors({ a: [0, 16], b: [20, 36] }, 36))).toThrow(
      /g\.safetensors: .*tensor b: data_offsets start at 20, leaving bytes 16–20 after tensor a to no tensor/,
    );
    expect(() => readSafetensors("t.safetensors", safetensors({ a: [0, 16] }, 20))).toThrow(
      /t\.safetensors: .*4 data bytes after tensor a belong to no tensor/,
    );
    expect(readSafetensors("ok.safetensors", safetensors({ b: [16, 32], a: [0, 16] }, 32)).tensors.size).toBe(2);
  });
});
