import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { modelFeeds, packedFeeds } from "../../lib/onnx/feeds.ts";
import { type ModelRecord, readModelRecord } from "../../lib/store/index.ts";
import { tempDir } from "../../testkit/fixtures.ts";
import { oracleFolders, oracleSource } from "../../testkit/oracle.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { sha256 } from "../hash.ts";
import { convertModels } from "../pipeline.ts";
import { readModel } from "./model-file.ts";

// Each oracle is converted with its family's real tokenizer files (XLM-R's takes about a second to hash).
setDefaultTimeout(30_000);

interface Expected {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids?: number[][];
  logits: number[][];
  tolerance: { logits_abs: number };
}

/** One row as the service sends it: its real tokens, and its token types when the fixture has them. */
interface Row {
  ids: number[];
  types?: number[];
}

const rowsOf = (e: Expected): Row[] =>
  e.input_ids.map((ids, r) => {
    const n = e.attention_mask[r].reduce((a, b) => a + b, 0);
    return { ids: ids.slice(0, n), types: e.token_type_ids?.[r].slice(0, n) };
  });

/** The model's sessions, padded and packed, fed as the service feeds them (lib/onnx/feeds.ts). */
async function sessions(dir: string) {
  const record = readModelRecord(dir) as ModelRecord;
  const packed = record.onnx.packed;
  if (!packed) throw new Error(`${dir}: engine.json records no packed graph`);
  const padded = await ort.InferenceSession.create(join(dir, record.onnx.model));
  const packedSession = await ort.InferenceSession.create(join(dir, packed.model));
  const spec = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
  const logits = async (s: ort.InferenceSession, feeds: Record<string, ort.Tensor>) => {
    const out = (await s.run(feeds)).logits;
    const labels = out.dims[1];
    const data = out.data as Float32Array;
    return Array.from({ length: out.dims[0] }, (_, r) => Array.from(data.subarray(r * labels, (r + 1) * labels)));
  };
  return {
    record,
    padded: (rows: Row[]) =>
      logits(
        padded,
        modelFeeds(
          rows.map((r) => r.ids),
          spec,
          rows.map((r) => r.types),
        ),
      ),
    packed: (rows: Row[]) =>
      logits(
        packedSession,
        packedFeeds(
          rows.map((r) => r.ids),
          packed.inputs,
          rows.map((r) => r.types),
        ),
      ),
    release: () => Promise.all([padded.release(), packedSession.release()]),
  };
}

const maxDiff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((row, r) => row.map((v, i) => Math.abs(v - b[r][i]))));

describe("packed graphs: the rows concatenated without padding answer as the padded graph", () => {
  for (const name of oracleFolders().built)
    test(`${name}: packed logits equal the padded ones and the oracle's within 1e-4, however the rows are packed`, async () => {
      const out = tempDir("packed");
      await convertModels([oracleSource(name)], { outDir: out });
      const expected: Expected = JSON.parse(readFileSync(join(ORACLE, name, "expected.json"), "utf8"));
      const rows = rowsOf(expected);
      expect(new Set(rows.map((r) => r.ids.length)).size).toBeGreaterThan(1);
      const model = await sessions(join(out, name));
      try {
        const padded = await model.padded(rows);
        expect(maxDiff(padded, expected.logits)).toBeLessThan(expected.tolerance.logits_abs);
        // Every row in one pack; then the rows reversed, in packs of two and three (rows meet other neighbours).
        const all = await model.packed(rows);
        expect(maxDiff(all, padded)).toBeLessThan(1e-4);
        expect(maxDiff(all, expected.logits)).toBeLessThan(expected.tolerance.logits_abs);
        const reversed = [...rows.keys()].reverse();
        for (const size of [2, 3]) {
          const regrouped: number[][] = [];
          for (let at = 0; at < reversed.length; at += size) {
            const group = reversed.slice(at, at + size);
            const logits = await model.packed(group.map((r) => rows[r]));
            group.forEach((r, i) => {
              regrouped[r] = logits[i];
            });
          }
          expect(maxDiff(regrouped, padded)).toBeLessThan(1e-4);
        }
      } finally {
        await model.release();
      }
    });

  for (const name of ["xlmr-tiny-safetensors", "bert-tiny-pairs", "deberta-v2-tiny-conv", "modernbert-tiny"])
    test(`${name}: a row packed after others answers exactly as it does alone (a batch never moves an answer)`, async () => {
      const out = tempDir("packed");
      await convertModels([oracleSource(name)], { outDir: out });
      const expected: Expected = JSON.parse(readFileSync(join(ORACLE, name, "expected.json"), "utf8"));
      const rows = rowsOf(expected);
      const model = await sessions(join(out, name));
      try {
        const alone = await Promise.all(rows.map(async (r) => (await model.packed([r]))[0]));
        // Every row, then the rows again in reverse: each row sits at two offsets, the pack past 256 tokens.
        const twice = [...rows, ...[...rows].reverse()];
        expect(twice.reduce((n, r) => n + r.ids.length, 0)).toBeGreaterThan(256);
        const packed = await model.packed(twice);
        expect(packed).toEqual([...alone, ...[...alone].reverse()]);
      } finally {
        await model.release();
      }
    });

  test("one set of weights: the packed graph reads model.onnx.data at the padded graph's offsets, each weight proven through it", async () => {
    const out = tempDir("packed");
    await convertModels([oracleSource("deberta-v2-tiny-conv")], { outDir: out });
    const dir = join(out, "deberta-v2-tiny-conv");
    const record = readModelRecord(dir) as ModelRecord;
    const padded = readModel(join(dir, "model.onnx")).initializers;
    const packed = readModel(join(dir, "model.packed.onnx")).initializers;
    const proven = new Map(record.weights.map((w) => [w.name, w.onnxSha256]));
    const external = [...packed.values()].filter((t) => proven.has(t.name));
    expect(external.map((t) => t.name).sort()).toEqual([...proven.keys()].sort());
    for (const t of external) {
      expect(sha256(t.bytes())).toBe(proven.get(t.name) as string);
      expect(t.bytes().byteOffset).toBe(padded.get(t.name)?.bytes().byteOffset as number);
    }
    expect(record.onnx.packed?.modelSha256).toBe(sha256(readFileSync(join(dir, "model.packed.onnx"))));
  });

  test("inputs: only what each graph reads (RoBERTa counts positions from its ids, DeBERTa-v3's are relative, ModernBERT's rotary per row)", async () => {
    const out = tempDir("packed");
    const names = ["xlmr-tiny-safetensors", "bert-tiny-pairs", "deberta-v3-tiny", "modernbert-tiny-mean"];
    await convertModels(names.map(oracleSource), { outDir: out });
    const inputs = names.map((n) => readModelRecord(join(out, n))?.onnx.packed?.inputs.sort());
    expect(inputs).toEqual([
      ["input_ids", "row_ids", "row_starts"],
      ["input_ids", "positions", "row_ids", "row_starts", "token_type_ids"],
      ["input_ids", "row_ids", "row_starts"],
      ["input_ids", "row_ids", "row_starts"],
    ]);
  });

  test("a pad id inside a RoBERTa row keeps position padding_idx and shifts those after it, packed as padded", async () => {
    const out = tempDir("packed");
    await convertModels([oracleSource("xlmr-tiny-safetensors")], { outDir: out });
    const model = await sessions(join(out, "xlmr-tiny-safetensors"));
    try {
      const pad = model.record.specialTokens.pad;
      const expected: Expected = JSON.parse(
        readFileSync(join(ORACLE, "xlmr-tiny-safetensors", "expected.json"), "utf8"),
      );
      const [first, second] = rowsOf(expected);
      const withPad = { ids: [...second.ids.slice(0, 3), pad, ...second.ids.slice(3)] };
      const rows = [first, withPad, second];
      const padded = await model.padded(rows);
      // The pad changes the row's answer (so the test can tell), and packed agrees with padded.
      expect(maxDiff([padded[1]], [padded[2]])).toBeGreaterThan(1e-3);
      expect(maxDiff(await model.packed(rows), padded)).toBeLessThan(1e-4);
    } finally {
      await model.release();
    }
  });
});
