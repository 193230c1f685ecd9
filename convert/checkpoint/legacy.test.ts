import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runLogits } from "../../testkit/oracle.ts";
import { readModelRecord } from "../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { type LegacyOptions, type LegacyStorage, torchLegacy } from "../../testkit/torch-legacy.ts";
import { PickleWriter, stateDictPickle, type TensorSpec } from "../../testkit/torch-zip.ts";
import { ConvertError } from "../errors.ts";
import { sha256 } from "../hash.ts";
import { convertModels } from "../pipeline.ts";
import { openCheckpoint } from "./index.ts";
import { readTorchLegacy } from "./legacy.ts";
import type { Checkpoint } from "./types.ts";

// Converting copies the XLM-R tokenizer fixture and hashes its definition: about a second each time.
setDefaultTimeout(30_000);

const f32 = (b: Uint8Array) => Array.from(new Float32Array(b.slice().buffer));
const f32Bytes = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
/** The sha256 of every tensor's bytes, one after the other in state dict order. */
const allBytesSha256 = (ck: Checkpoint) => {
  const h = new Bun.CryptoHasher("sha256");
  for (const t of ck.tensors.values()) h.update(t.bytes());
  return h.digest("hex");
};

/** A legacy file written by testkit: `tensors` pickled with the sixth persistent id element legacy files carry. */
function legacyFile(tensors: TensorSpec[], storages: LegacyStorage[], opts?: LegacyOptions) {
  const withView = tensors.map(
    ([n, k, numel, off, shape, stride, s]): TensorSpec => [n, k, numel, off, shape, stride, { view: null, ...s }],
  );
  return torchLegacy(stateDictPickle(withView), storages, opts);
}
const oneTensor = (): [TensorSpec[], LegacyStorage[]] => [
  [["w", "0", 4, 0, [2, 2], [2, 1]]],
  [{ key: "0", bytes: f32Bytes(1, 2, 3, 4) }],
];

describe("legacy torch checkpoints (torch < 1.6): the oracle fixtures", () => {
  test("xlmr-tiny-legacy: every tensor, dtype and shape; classifier biases sharing one storage keep their offsets", () => {
    const ck = openCheckpoint(join(ORACLE, "xlmr-tiny-legacy"));
    expect(ck.tensors.size).toBe(44);
    const words = ck.tensors.get("roberta.embeddings.word_embeddings.weight")!;
    expect([words.dtype, words.shape]).toEqual(["F32", [1000, 32]]);
    const positions = ck.tensors.get("roberta.embeddings.position_ids")!;
    expect([positions.dtype, positions.shape]).toEqual(["I64", [1, 66]]);
    expect(Array.from(new BigInt64Array(positions.bytes().slice().buffer)).slice(0, 3)).toEqual([0n, 1n, 2n]);
    const dense = ck.tensors.get("classifier.dense.bias")!;
    const out = ck.tensors.get("classifier.out_proj.bias")!;
    expect(dense.bytes().buffer).toBe(out.bytes().buffer);
    expect(dense.bytes().byteOffset - out.bytes().byteOffset).toBe(8); // dense starts 2 elements into the storage
    // Hashed by an independent reader (Python's pickle + struct over the same file).
    expect(allBytesSha256(ck)).toBe("d8da64e4c99918e595d2ed03cc6a91305194c07adcf7867c94ff39f67f6dfbba");
  });

  const bertDir = join(ORACLE, "bert-multilabel-legacy");
  test("bert-multilabel-legacy: names, dtypes and shapes are what its config.json implies", async () => {
    const cfg = await Bun.file(join(bertDir, "config.json")).json();
    const h = cfg.hidden_size;
    const linear = (prefix: string, out: number, inp: number): [string, number[]][] => [
      [`${prefix}.weight`, [out, inp]],
      [`${prefix}.bias`, [out]],
    ];
    const norm = (prefix: string): [string, number[]][] => [
      [`${prefix}.weight`, [h]],
      [`${prefix}.bias`, [h]],
    ];
    const layers = Array.from({ length: cfg.num_hidden_layers }, (_, i) => `bert.encoder.layer.${i}`).flatMap((l) => [
      ...linear(`${l}.attention.self.query`, h, h),
      ...linear(`${l}.attention.self.key`, h, h),
      ...linear(`${l}.attention.self.value`, h, h),
      ...linear(`${l}.attention.output.dense`, h, h),
      ...norm(`${l}.attention.output.LayerNorm`),
      ...linear(`${l}.intermediate.dense`, cfg.intermediate_size, h),
      ...linear(`${l}.output.dense`, h, cfg.intermediate_size),
      ...norm(`${l}.output.LayerNorm`),
    ]);
    const implied: [string, number[]][] = [
      ["bert.embeddings.word_embeddings.weight", [cfg.vocab_size, h]],
      ["bert.embeddings.position_embeddings.weight", [cfg.max_position_embeddings, h]],
      ["bert.embeddings.token_type_embeddings.weight", [cfg.type_vocab_size, h]],
      ...norm("bert.embeddings.LayerNorm"),
      ...layers,
      ...linear("bert.pooler.dense", h, h),
      ...linear("classifier", Object.keys(cfg.id2label).length, h),
    ];
    const ck = openCheckpoint(bertDir);
    const floats = [...ck.tensors.values()].filter((t) => t.name !== "bert.embeddings.position_ids");
    expect(Object.fromEntries(floats.map((t) => [t.name, t.shape]))).toEqual(Object.fromEntries(implied));
    expect(floats.every((t) => t.dtype === "F32")).toBe(true);
    expect(ck.tensors.get("classifier.weight")!.shape).toEqual([6, 24]);
    const positions = ck.tensors.get("bert.embeddings.position_ids")!; // the buffer transformers saved then
    expect([positions.dtype, positions.shape]).toEqual(["I64", [1, cfg.max_position_embeddings]]);
  });

  test("bert-multilabel-legacy: the bytes hash the same on every read and as an independent reader found", () => {
    const expected = "e6c7910e2075adbe6f0a94cdc2d986604dc199adb761c7d4f4c78692a6ddc905"; // Python's pickle + struct
    expect(allBytesSha256(openCheckpoint(bertDir))).toBe(expected);
    expect(allBytesSha256(openCheckpoint(bertDir))).toBe(expected);
  });

  test("bert-multilabel-legacy: each tensor is the file's own bytes where its storage begins, storages tiling the end", () => {
    const file = join(bertDir, "pytorch_model.bin");
    const buf = new Uint8Array(readFileSync(file));
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const ck = readTorchLegacy(file, buf);
    const placed = [...ck.tensors.values()].map((t) => {
      const bytes = t.bytes();
      expect(bytes.buffer).toBe(buf.buffer); // a view of the file, not a copy
      const at = bytes.byteOffset - buf.byteOffset;
      // Each storage here holds one whole tensor: the element count torch wrote just before it is the tensor's.
      expect(view.getBigInt64(at - 8, true)).toBe(BigInt(t.shape.reduce((a, b) => a * b, 1)));
      expect(bytes).toEqual(buf.subarray(at, at + bytes.byteLength));
      return { at, end: at + bytes.byteLength };
    });
    placed.sort((a, b) => a.at - b.at);
    expect(placed[0].at).toBe(5793); // the first storage's data, where Python's reader found it
    for (let i = 1; i < placed.length; i++) expect(placed[i].at).toBe(placed[i - 1].end + 8);
    expect(placed[placed.length - 1].end).toBe(buf.byteLength);
  });
});

/** xlmr-tiny-legacy plus the XLM-R tokenizer (ids past its 1000 embedding rows: allowed) in a scratch folder (shared/ is read-only). */
function legacySource(damage?: (weights: string) => void) {
  const dir = join(tempDir("legacy-src"), "xlmr-tiny-legacy");
  cpSync(join(ORACLE, "xlmr-tiny-legacy"), dir, { recursive: true });
  addTokenizer(dir, "xlmr");
  damage?.(join(dir, "pytorch_model.bin"));
  return { key: "xlmr-tiny-legacy", dir, origin: { local: dir }, allowVocabMismatch: true };
}

describe("legacy torch checkpoints: converted end to end", () => {
  test("xlmr-tiny-legacy converts; onnxruntime reproduces the oracle's logits; engine.json proves every weight", async () => {
    const src = legacySource();
    const out = tempDir("engines");
    await convertModels([src], { outDir: out });
    const expected = await Bun.file(join(ORACLE, src.key, "expected.json")).json();
    const { data, dims } = await runLogits(
      join(out, src.key, "model.onnx"),
      expected.input_ids,
      expected.attention_mask,
    );
    expect(dims).toEqual([expected.logits.length, expected.logits[0].length]);
    const want: number[] = expected.logits.flat();
    expect(Math.max(...want.map((v, i) => Math.abs(v - data[i])))).toBeLessThan(expected.tolerance.logits_abs);

    const record = readModelRecord(join(out, src.key))!;
    const ck = openCheckpoint(src.dir);
    expect(record.weights.length).toBeGreaterThan(30);
    for (const w of record.weights) {
      expect(w.onnxSha256).toBe(w.sha256);
      expect(w.sha256).toBe(sha256(ck.tensors.get(w.name)!.bytes()));
    }
  });

  /** The key list pickle with its first key taken out: that storage's bytes stay, unlisted. */
  const dropFirstListedKey = (weights: string) => {
    const buf = new Uint8Array(readFileSync(weights));
    const list = buf.findIndex((_, i) => buf[i] === 0x2e && buf[i + 1] === 0x80 && buf[i + 3] === 0x5d) + 1;
    const entry = list + 6; // PROTO 2, EMPTY_LIST, BINPUT 0, MARK, then BINUNICODE <u32 length> <key> BINPUT <n>
    expect([buf[list + 2], buf[list + 5], buf[entry]]).toEqual([0x5d, 0x28, 0x58]);
    const length = new DataView(buf.buffer).getUint32(entry + 1, true);
    const key = new TextDecoder().decode(buf.subarray(entry + 5, entry + 5 + length));
    writeFileSync(weights, Buffer.concat([buf.subarray(0, entry), buf.subarray(entry + 5 + length + 2)]));
    return key;
  };
  const damages: [string, (weights: string) => void, RegExp][] = [
    [
      "truncated storage bytes",
      (w) => writeFileSync(w, readFileSync(w).subarray(0, -100)),
      /pytorch_model\.bin: not a valid legacy PyTorch checkpoint: storage \d+ needs \d+ bytes .*\(truncated\?\)/,
    ],
    [
      "a wrong magic number",
      (w) => {
        const buf = new Uint8Array(readFileSync(w));
        buf[5] ^= 0xff; // inside the LONG1 that follows PROTO 2
        writeFileSync(w, buf);
      },
      /pytorch_model\.bin: not a valid legacy PyTorch checkpoint: wrong magic number/,
    ],
    [
      "a storage missing from the key list",
      (w) => expect(dropFirstListedKey(w)).toBe("234317648"),
      /pytorch_model\.bin: not a valid legacy PyTorch checkpoint: storage 234317648 is missing from the key list/,
    ],
  ];
  for (const [what, damage, message] of damages) {
    test(`${what}: a ConvertError naming the file, and no output`, async () => {
      const src = legacySource(damage);
      const out = tempDir("engines");
      const err = await convertModels([src], { outDir: out }).catch((e) => e);
      expect(err).toBeInstanceOf(ConvertError);
      expect(err.message).toMatch(message);
      expect(existsSync(join(out, src.key))).toBe(false);
      expect(existsSync(join(out, "index.json"))).toBe(false);
      expect(readdirSync(out).filter((n) => n.includes(".tmp-"))).toEqual([]);
    });
  }
});

describe("legacy torch checkpoints: the same restricted unpickler as zip ones", () => {
  const evilCall = (p: PickleWriter, module: string, name: string) =>
    p.global(module, name).str("echo pwned").raw(0x85).reduce();
  const hostile: [string, Uint8Array, RegExp][] = [
    [
      "os.system in the state dict",
      torchLegacy(
        stateDictPickle([], (p) => evilCall(p.str("x"), "os", "system")),
        [],
      ),
      /forbidden global os\.system/,
    ],
    [
      "builtins.eval in the sys info pickle",
      torchLegacy(stateDictPickle([]), [], {
        sysInfo: evilCall(new PickleWriter().proto(), "builtins", "eval").stop().bytes(),
      }),
      /forbidden global builtins\.eval/,
    ],
  ];
  for (const [what, bytes, global] of hostile) {
    test(`${what} is refused with the file named`, () => {
      const dir = tempDir("evil");
      writeFileSync(join(dir, "pytorch_model.bin"), bytes);
      expect(() => openCheckpoint(dir)).toThrow(ConvertError);
      expect(() => openCheckpoint(dir)).toThrow(
        new RegExp(`pytorch_model\\.bin: refused pickle at byte \\d+: ${global.source}`),
      );
    });
  }

  test("a file that is neither a zip nor a pickle, or is empty, is refused with the file named", () => {
    const dir = tempDir("neither");
    writeFileSync(join(dir, "pytorch_model.bin"), "ustar tar archives were torch < 0.4");
    expect(() => openCheckpoint(dir)).toThrow(/pytorch_model\.bin: neither a zip .* nor a legacy pickle/);
    writeFileSync(join(dir, "pytorch_model.bin"), "");
    expect(() => openCheckpoint(dir)).toThrow(/pytorch_model\.bin: empty file/);
  });
});

describe("legacy torch checkpoints: layouts and malformed streams", () => {
  test("offsets, strides, other dtypes and storage views are honoured as in zip checkpoints", () => {
    const longs = new Uint8Array(new BigInt64Array([7n, 8n, 9n]).buffer);
    const ck = readTorchLegacy(
      "l.bin",
      legacyFile(
        [
          ["t", "0", 6, 0, [3, 2], [1, 3]], // the transpose of [[0,1,2],[3,4,5]]
          ["tail", "0", 6, 4, [2], [1]], // the same storage, from element 4
          ["ids", "1", 3, 1, [2], [1], { type: "LongStorage" }],
          ["v", "2", 5, 1, [2], [1], { view: ["9", 2, 3] }], // a view of elements 2..4, the tensor from its 1
        ],
        [
          { key: "0", bytes: f32Bytes(0, 1, 2, 3, 4, 5) },
          { key: "1", bytes: longs, count: 3 },
          { key: "2", bytes: f32Bytes(10, 11, 12, 13, 14) },
        ],
      ),
    );
    expect(f32(ck.tensors.get("t")!.bytes())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(f32(ck.tensors.get("tail")!.bytes())).toEqual([4, 5]);
    expect(ck.tensors.get("ids")!.dtype).toBe("I64");
    expect(ck.tensors.get("ids")!.bytes()).toEqual(longs.subarray(8));
    expect(f32(ck.tensors.get("v")!.bytes())).toEqual([13, 14]);
  });

  const [tensors, storages] = oneTensor();
  const malformed: [string, Uint8Array, RegExp][] = [
    ["a wrong magic number", legacyFile(tensors, storages, { magic: 42n }), /wrong magic number 42/],
    [
      "a key missing from the key list",
      legacyFile(tensors, storages, { keys: [] }),
      /storage 0 is missing from the key list/,
    ],
    ["a key listed twice", legacyFile(tensors, storages, { keys: ["0", "0"] }), /storage 0 is listed twice/],
    [
      "a listed key no tensor references (its element size is unknown)",
      legacyFile(tensors, storages, { keys: ["0", "1"] }),
      /storage 1 is listed but no tensor references it/,
    ],
    [
      "a count that disagrees with the persistent id's numel",
      legacyFile(tensors, [{ ...storages[0], count: 5 }]),
      /storage 0 holds 5 elements, its reference says 4/,
    ],
    [
      "truncated storage bytes",
      legacyFile(tensors, storages).subarray(0, -1),
      /storage 0 needs 16 bytes from byte \d+, the file has \d+ \(truncated\?\)/,
    ],
    [
      "a file cut before a storage's count",
      legacyFile(tensors, storages).subarray(0, -20),
      /the file ends before storage 0's element count/,
    ],
    [
      "bytes after the last storage",
      legacyFile(tensors, [storages[0], { key: "junk", bytes: new Uint8Array(3), count: 0 }], { keys: ["0"] }),
      /11 bytes after the last storage/,
    ],
    [
      "one storage key with two sizes",
      legacyFile([...tensors, ["u", "0", 2, 0, [2], [1]]], storages),
      /storage 0 is referenced as FloatStorage\(4\) and as FloatStorage\(2\)/,
    ],
    [
      "a view reaching past its storage",
      legacyFile([["v", "0", 4, 0, [2], [1], { view: ["9", 3, 2] }]], storages),
      /tensor v: view 9 ends past its storage 0/,
    ],
    [
      "a truncated pickle",
      legacyFile(tensors, storages).subarray(0, 40),
      /refused pickle at byte \d+: unexpected end of data/,
    ],
  ];
  for (const [what, bytes, message] of malformed) {
    test(`${what} is a ConvertError naming the file`, () => {
      expect(() => readTorchLegacy("bad.bin", bytes)).toThrow(ConvertError);
      expect(() => readTorchLegacy("bad.bin", bytes)).toThrow(new RegExp(`^bad\\.bin: .*${message.source}`));
    });
  }

  test("a big-endian file is refused: its storages' bytes are not the graph's", () => {
    const sysInfo = new PickleWriter().proto().emptyDict().mark().str("little_endian").false().setitems().stop();
    const bytes = legacyFile(...oneTensor(), { sysInfo: sysInfo.bytes() });
    expect(() => readTorchLegacy("be.bin", bytes)).toThrow(/be\.bin: big-endian checkpoints are not supported/);
  });
});
