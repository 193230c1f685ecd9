import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { readModelRecord } from "../../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../../testkit/fixtures.ts";
import { runLogits } from "../../../testkit/oracle.ts";
import { ORACLE } from "../../../testkit/shared.ts";
import { readSafetensors } from "../../checkpoint/safetensors.ts";
import { convertModels } from "../../pipeline.ts";
import { TINY, writeRandomCheckpoint } from "../../random/random-checkpoint.ts";
import { readModel } from "../model-file.ts";
import { ConfigReader } from "../config.ts";
import { parseDebertaConfig, relativeBucket, relativeIndexTables } from "./deberta-v2.ts";

// Each variant is a conversion of the tiny oracle with the real DeBERTa-v3 tokenizer files.
setDefaultTimeout(30_000);

const V3 = "deberta-v3-tiny";
const v3Config = () => JSON.parse(readFileSync(join(ORACLE, V3, "config.json"), "utf8")) as Record<string, unknown>;
const parse = (raw: Record<string, unknown>) => parseDebertaConfig(new ConfigReader("config.json", raw), "D");

describe("relative positions, as make_log_bucket_position buckets them", () => {
  test("worked by hand for 32 buckets over 128 positions: distances up to 16 kept, then log buckets up to 31", () => {
    const bucket = (d: number) => relativeBucket(d, 32, 128);
    expect([0, 1, -1, 15, 16, -16].map(bucket)).toEqual([0, 1, -1, 15, 16, -16]);
    // 17: ⌈ln(17/16) / ln(127/16) × 15⌉ + 16 = ⌈0.4390⌉ + 16 = 17; 20: ⌈1.6158⌉ + 16 = 18.
    expect([17, 20, -20].map(bucket)).toEqual([17, 18, -18]);
    // 127 = max − 1: the two logs are equal, 15 + 16 = 31; 128: ⌈15.0567⌉ + 16 = 32, the span.
    expect([127, 128, -128].map(bucket)).toEqual([31, 32, -32]);
    // Without buckets the distance is used as it is.
    expect(relativeBucket(-700, -1, 512)).toBe(-700);
  });

  const configs: [string, Record<string, unknown>][] = [
    ["deberta-v3-tiny (32 buckets, 128)", { position_buckets: 32, max_position_embeddings: 128 }],
    ["deberta-v2-tiny-conv (16 buckets, 64)", { position_buckets: 16, max_position_embeddings: 64 }],
    ["DeBERTa-v3-base (256 buckets, 512)", { position_buckets: 256, max_position_embeddings: 512 }],
    ["no buckets (512)", { max_position_embeddings: 512 }],
  ];
  for (const [name, raw] of configs)
    test(`${name}: the clipped tables give transformers' clamped indices at every distance up to ±6000`, () => {
      const c = parse({ ...v3Config(), max_relative_positions: -1, ...raw, position_buckets: raw.position_buckets });
      const rel = c.relative!;
      const { c2p, p2c } = relativeIndexTables(rel);
      expect(c2p.length).toBe(2 * rel.reach + 1);
      const clamp = (v: number) => Math.min(Math.max(v, 0), 2 * rel.span - 1);
      for (let d = -6000; d <= 6000; d++) {
        const slot = Math.min(Math.max(d, -rel.reach), rel.reach) + rel.reach;
        const bucket = relativeBucket(d, rel.buckets, rel.maxRelative);
        expect([d, c2p[slot], p2c[slot]]).toEqual([d, clamp(bucket + rel.span), clamp(rel.span - bucket)]);
      }
    });
});

describe("config.json, read as DebertaV2Config reads it", () => {
  test("relative positions only: no position limit in the graph, so engine.json states 4096; token types only with a table", () => {
    expect(parse(v3Config())).toMatchObject({
      maxLength: 4096,
      inputs: ["input_ids", "attention_mask"],
      c2p: true,
      p2c: true,
      relative: { span: 32, maxRelative: 128, reach: 128, normalized: true },
    });
    const biased = parse({ ...v3Config(), position_biased_input: true, type_vocab_size: 2 });
    expect(biased).toMatchObject({ maxLength: 128, inputs: ["input_ids", "attention_mask", "token_type_ids"] });
    expect(parse({ ...v3Config(), pos_att_type: "C2P | p2p" })).toMatchObject({ c2p: true, p2c: false });
  });

  test("what the graph cannot follow is refused, naming the file", () => {
    expect(() => parse({ ...v3Config(), conv_kernel_size: 4 })).toThrow("config.json: conv_kernel_size 4 must be odd");
    expect(() => parse({ ...v3Config(), pooler_hidden_size: 32 })).toThrow("pooler_hidden_size must equal hidden_size");
    expect(() => parse({ ...v3Config(), pooler_hidden_act: "swish" })).toThrow('pooler_hidden_act "swish"');
    expect(() => parse({ ...v3Config(), max_relative_positions: 16 })).toThrow("position_buckets 32 needs");
  });
});

/** A copy of the oracle with tensors added or replaced and config.json edited. */
function variant(edit: Record<string, unknown>, tensors: Record<string, { shape: number[]; values: Float32Array }>) {
  const dir = join(tempDir("deberta-variant"), "v");
  cpSync(join(ORACLE, V3), dir, { recursive: true });
  addTokenizer(dir, "deberta");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...v3Config(), ...edit }));
  const file = join(dir, "model.safetensors");
  const ckpt = readSafetensors(file, new Uint8Array(readFileSync(file)));
  const all = new Map<string, { shape: number[]; bytes: Uint8Array }>();
  for (const [name, t] of ckpt.tensors) all.set(name, { shape: t.shape, bytes: t.bytes().slice() });
  for (const [name, t] of Object.entries(tensors))
    all.set(name, { shape: t.shape, bytes: new Uint8Array(t.values.buffer) });
  writeSafetensors(file, all);
  return { key: "v", dir, origin: { local: dir }, allowVocabMismatch: true };
}

function writeSafetensors(file: string, tensors: Map<string, { shape: number[]; bytes: Uint8Array }>) {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  writeFileSync(file, Buffer.concat([length, json, ...[...tensors.values()].map((t) => t.bytes)]));
}

const tensorOf = (name: string) => {
  const file = join(ORACLE, V3, "model.safetensors");
  const t = readSafetensors(file, new Uint8Array(readFileSync(file))).tensors.get(name)!;
  return { shape: t.shape, values: new Float32Array(t.bytes().slice().buffer) };
};

/** The variant converted and run on the oracle's batch: its largest distance from the oracle's logits. */
async function distanceFromOracle(src: ReturnType<typeof variant>) {
  const out = tempDir("deberta-engines");
  await convertModels([src], { outDir: out, log: () => {} });
  const expected = await Bun.file(join(ORACLE, V3, "expected.json")).json();
  const { data } = await runLogits(join(out, "v", "model.onnx"), expected.input_ids, expected.attention_mask);
  const want: number[] = expected.logits.flat();
  const record = readModelRecord(join(out, "v"))!;
  expect(record.weights.filter((w) => w.sha256 !== w.onnxSha256)).toEqual([]);
  return { diff: Math.max(...want.map((v, i) => Math.abs(v - data[i]))), record };
}

describe("the branches the oracles do not take, each made equal to the oracle by construction", () => {
  const layers = [0, 1, 2];
  const proj = (i: number, p: string) => `deberta.encoder.layer.${i}.attention.self.${p}`;
  const ownPositionProjections = (from: (i: number, part: string) => ReturnType<typeof tensorOf>) =>
    Object.fromEntries(
      layers.flatMap((i) =>
        ["weight", "bias"].flatMap((part) => [
          [`${proj(i, "pos_key_proj")}.${part}`, from(i, `${proj(i, "key_proj")}.${part}`)],
          [`${proj(i, "pos_query_proj")}.${part}`, from(i, `${proj(i, "query_proj")}.${part}`)],
        ]),
      ),
    );

  test("share_att_key false reads pos_key_proj and pos_query_proj: copies of key_proj and query_proj give the oracle's logits", async () => {
    const src = variant(
      { share_att_key: false },
      ownPositionProjections((_, name) => tensorOf(name)),
    );
    const { diff, record } = await distanceFromOracle(src);
    expect(diff).toBeLessThan(1e-4);
    expect(record.weights.map((w) => w.name)).toContain(`${proj(2, "pos_query_proj")}.bias`);
  });

  test("… and other values there move the logits: the position terms are really read from them", async () => {
    const scaled = (_: number, name: string) => {
      const t = tensorOf(name);
      return { shape: t.shape, values: t.values.map((v) => v * 3) };
    };
    const { diff } = await distanceFromOracle(variant({ share_att_key: false }, ownPositionProjections(scaled)));
    expect(diff).toBeGreaterThan(1e-2);
  });

  test("position_biased_input with a zero position table and two zero token types: the oracle's logits, token_type_ids taken", async () => {
    const src = variant(
      { position_biased_input: true, type_vocab_size: 2 },
      {
        "deberta.embeddings.position_embeddings.weight": { shape: [128, 48], values: new Float32Array(128 * 48) },
        "deberta.embeddings.token_type_embeddings.weight": { shape: [2, 48], values: new Float32Array(2 * 48) },
      },
    );
    const { diff, record } = await distanceFromOracle(src);
    expect(diff).toBeLessThan(1e-4);
    expect(record.onnx.inputs).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(record.maxLength).toBe(128);
  });

  test("embedding_size 96 through embed_proj: word rows [w | 0] projected by [I | 0.5] give the oracle's logits", async () => {
    const words = tensorOf("deberta.embeddings.word_embeddings.weight");
    const wide = new Float32Array(1000 * 96);
    for (let r = 0; r < 1000; r++) wide.set(words.values.subarray(r * 48, r * 48 + 48), r * 96);
    const projection = new Float32Array(48 * 96).fill(0.5);
    for (let r = 0; r < 48; r++) {
      projection.fill(0, r * 96, r * 96 + 48);
      projection[r * 96 + r] = 1;
    }
    const src = variant(
      { embedding_size: 96 },
      {
        "deberta.embeddings.word_embeddings.weight": { shape: [1000, 96], values: wide },
        "deberta.embeddings.embed_proj.weight": { shape: [48, 96], values: projection },
      },
    );
    expect((await distanceFromOracle(src)).diff).toBeLessThan(1e-4);
  });
});

describe("lengths past the relative table and past max_position_embeddings", () => {
  test("a 300-token row (reach 128, max_position_embeddings 128) runs, and padding it to 340 beside a short row changes nothing", async () => {
    const out = tempDir("deberta-engines");
    const dir = join(tempDir("deberta-long"), "v");
    cpSync(join(ORACLE, V3), dir, { recursive: true });
    addTokenizer(dir, "deberta");
    await convertModels([{ key: "v", dir, origin: { local: dir }, allowVocabMismatch: true }], {
      outDir: out,
      log: () => {},
    });
    const long = [1, ...Array.from({ length: 298 }, (_, i) => 5 + ((i * 37) % 990)), 2];
    const short = [1, 17, 2];
    const pad = (row: number[], n: number) => [...row, ...Array(n - row.length).fill(0)];
    const mask = (row: number[], n: number) =>
      pad(
        row.map(() => 1),
        n,
      );
    const alone = await runLogits(join(out, "v", "model.onnx"), [long], [mask(long, 300)]);
    const batch = await runLogits(
      join(out, "v", "model.onnx"),
      [pad(long, 340), pad(short, 340)],
      [mask(long, 340), mask(short, 340)],
    );
    expect(alone.data.every(Number.isFinite)).toBe(true);
    alone.data.forEach((v, i) => {
      expect(Math.abs(v - batch.data[i])).toBeLessThan(1e-4);
    });
    const session = await ort.InferenceSession.create(join(out, "v", "model.onnx"));
    expect(session.inputNames).toEqual(["input_ids", "attention_mask"]);
    await session.release();
  });
});

describe("the converted graph, as the service and TensorRT take it", () => {
  test("onnxruntime with every graph optimization (as the CPU service loads it) gives the conv oracle's logits", async () => {
    const name = "deberta-v2-tiny-conv";
    const dir = join(tempDir("deberta-opt"), name);
    cpSync(join(ORACLE, name), dir, { recursive: true });
    addTokenizer(dir, "deberta");
    const out = tempDir("deberta-engines");
    await convertModels([{ key: name, dir, origin: { local: dir }, allowVocabMismatch: true }], {
      outDir: out,
      log: () => {},
    });
    const expected = await Bun.file(join(ORACLE, name, "expected.json")).json();
    const session = await ort.InferenceSession.create(join(out, name, "model.onnx"), { graphOptimizationLevel: "all" });
    const shape = [expected.input_ids.length, expected.input_ids[0].length];
    const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), shape);
    const { logits } = await session.run({
      input_ids: int64(expected.input_ids),
      attention_mask: int64(expected.attention_mask),
    });
    await session.release();
    const want: number[] = expected.logits.flat();
    const got = Array.from(logits.data as Float32Array);
    expect(Math.max(...want.map((v, i) => Math.abs(v - got[i])))).toBeLessThan(1e-4);
    // Standard opset-17 operators only, none of them a loop, a contrib op or a sequence.
    const { model } = readModel(join(out, name, "model.onnx"));
    const ops = new Set((model.graph?.node ?? []).map((n) => `${n.domain || ""}:${n.opType}`));
    expect([...ops].sort()).toEqual(
      [
        "Add",
        "Cast",
        "Concat",
        "Conv",
        "Div",
        "Erf",
        "Gather",
        "Gemm",
        "LayerNormalization",
        "MatMul",
        "Max",
        "Min",
        "Mul",
        "Range",
        "Reshape",
        "Shape",
        "Softmax",
        "Sub",
        "Transpose",
        "Unsqueeze",
      ].map((op) => `:${op}`),
    );
  });

  test("a tiny random DeBERTa-v3 (real 128,100-row vocabulary) converts with the real tokenizer, no allowance needed", async () => {
    const dir = join(tempDir("deberta-random"), "tiny");
    writeRandomCheckpoint(dir, { ...TINY.deberta, numLabels: 3 });
    addTokenizer(dir, "deberta");
    const out = tempDir("deberta-engines");
    await convertModels([{ key: "tiny", dir, origin: {} }], { outDir: out, log: () => {} });
    const record = readModelRecord(join(out, "tiny"))!;
    expect(record).toMatchObject({ architecture: "DebertaV2ForSequenceClassification", maxLength: 4096 });
    expect(record.onnx.inputs).toEqual(["input_ids", "attention_mask"]);
    expect(record.weights.map((w) => w.name)).toContain("deberta.encoder.rel_embeddings.weight");
    const rows = [[1, 3_000, 127_999, 2]];
    const { data } = await runLogits(join(out, "tiny", "model.onnx"), rows, [[1, 1, 1, 1]]);
    expect(data.length).toBe(3);
    expect(data.every(Number.isFinite)).toBe(true);
  });
});

describe("other configurations build graphs onnxruntime runs on the oracle's batch", () => {
  const cases: [string, Record<string, unknown>, Record<string, { shape: number[]; values: Float32Array }>][] = [
    ["relative_attention false (scale still widened by pos_att_type)", { relative_attention: false }, {}],
    ["c2p only", { pos_att_type: "c2p" }, {}],
    ["p2c only, without the relative layer norm", { pos_att_type: ["p2c"], norm_rel_ebd: "none" }, {}],
    [
      "plain distances (no position_buckets, 2 × 40 relative rows)",
      { position_buckets: -1, max_relative_positions: 40 },
      { "deberta.encoder.rel_embeddings.weight": { shape: [80, 48], values: new Float32Array(80 * 48).fill(0.01) } },
    ],
  ];
  for (const [what, edit, tensors] of cases)
    test(what, async () => {
      const { diff } = await distanceFromOracle(variant(edit, tensors));
      // Another model than the oracle's, so other logits; finite ones (the conversion's smoke run checks too).
      expect(diff).toBeGreaterThan(1e-4);
      expect(Number.isFinite(diff)).toBe(true);
    });
});
