import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readModelRecord } from "../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { runLogits } from "../../testkit/oracle.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { readSafetensors } from "../checkpoint/safetensors.ts";
import { convertModels } from "../pipeline.ts";
import {
  TINY,
  writeRandomCheckpoint,
  type RandomArchitecture,
  type RandomCheckpointSpec,
} from "./random-checkpoint.ts";

// Conversions with real tokenizer files.
setDefaultTimeout(60_000);

/** A tiny random checkpoint of `architecture` with its family's tokenizer, converted; the engine folder and the source. */
async function convertTiny(architecture: RandomArchitecture, overrides: Partial<RandomCheckpointSpec> = {}) {
  const src = join(tempDir("random-src"), architecture);
  writeRandomCheckpoint(src, { ...TINY[architecture], numLabels: 3, seed: 11, ...overrides });
  addTokenizer(src, architecture);
  const out = tempDir("random-engines");
  await convertModels([{ key: architecture, dir: src, origin: { local: src } }], { outDir: out });
  return { engine: join(out, architecture), src };
}

describe("random checkpoints of the architectures added last", () => {
  for (const architecture of ["electra", "modernbert"] as const)
    test(`a tiny ${architecture} checkpoint is what the converter reads: every tensor written is used, byte-identical`, async () => {
      const { engine, src } = await convertTiny(architecture);
      const record = readModelRecord(engine)!;
      const ckpt = readSafetensors("m", new Uint8Array(readFileSync(join(src, "model.safetensors"))));
      expect(record.weights.map((w) => w.name).sort()).toEqual([...ckpt.tensors.keys()].sort());
      expect(record.weightProof).toBe("byte-identical");
      expect(record.labels.length).toBe(3);
    });

  test("ELECTRA's tiny spec has embeddings narrower than its hidden size, so embeddings_project is written and used", async () => {
    expect(TINY.electra.embeddingSize).toBeLessThan(TINY.electra.hiddenSize);
    const { engine } = await convertTiny("electra");
    expect(readModelRecord(engine)!.weights.map((w) => w.name)).toContain("electra.embeddings_project.weight");
  });

  test("an ELECTRA whose embeddings are as wide as its hidden size (electra-base) has no embeddings_project and converts", async () => {
    const { engine, src } = await convertTiny("electra", { embeddingSize: TINY.electra.hiddenSize });
    const ckpt = readSafetensors("m", new Uint8Array(readFileSync(join(src, "model.safetensors"))));
    expect([...ckpt.tensors.keys()].some((n) => n.includes("embeddings_project"))).toBe(false);
    const ids = [[101, 2023, 2003, 1037, 3231, 102]];
    const { data } = await runLogits(join(engine, "model.onnx"), ids, [ids[0].map(() => 1)]);
    expect(data.length).toBe(3);
    expect(data.every(Number.isFinite)).toBe(true);
  });

  test("a tiny ModernBERT's logits for a row are the same alone and padded in a batch beside longer rows (window and padding masks)", async () => {
    const { engine } = await convertTiny("modernbert");
    const cases: { input_ids: number[] }[] = JSON.parse(
      readFileSync(join(TOKENIZER_FIXTURES, "modernbert-expected.json"), "utf8"),
    ).cases;
    // Rows shorter and longer than the window of 8: the local layers see padding at different distances.
    const rows = [3, 12, 30].map((n) => cases.find((c) => c.input_ids.length >= n)!.input_ids.slice(0, n));
    const width = Math.max(...rows.map((r) => r.length));
    const pad = 50283; // ModernBERT's [PAD]
    const ids = rows.map((r) => [...r, ...Array(width - r.length).fill(pad)]);
    const mask = rows.map((r) => [...r.map(() => 1), ...Array(width - r.length).fill(0)]);
    const batch = await runLogits(join(engine, "model.onnx"), ids, mask);
    for (const [i, row] of rows.entries()) {
      const alone = await runLogits(join(engine, "model.onnx"), [row], [row.map(() => 1)]);
      const padded = batch.data.slice(3 * i, 3 * i + 3);
      expect(Math.max(...alone.data.map((v, j) => Math.abs(v - padded[j])))).toBeLessThan(1e-5);
    }
    // And the rows' logits differ from each other: the test is not comparing constants.
    expect(batch.data.slice(0, 3)).not.toEqual(batch.data.slice(3, 6));
  });
});
