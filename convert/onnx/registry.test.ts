import { describe, expect, test } from "bun:test";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { modelFeeds } from "../../lib/onnx/feeds.ts";
import { readModelRecord } from "../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { oracleFolders } from "../../testkit/oracle.ts";
import { convertModels } from "../pipeline.ts";
import { readClassifierConfig } from "./registry.ts";

const base = {
  hidden_size: 8,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 16,
  vocab_size: 10,
  max_position_embeddings: 20,
};

describe("architecture registry", () => {
  test("config.architectures decides, the first supported name among several; model_type only when it is absent", () => {
    const read = (raw: object) => readClassifierConfig("config.json", raw as Record<string, unknown>);
    expect(read({ ...base, architectures: ["Unknown", "BertForSequenceClassification"] }).config.architecture).toBe(
      "BertForSequenceClassification",
    );
    expect(read({ ...base, model_type: "camembert" }).config.architecture).toBe("CamembertForSequenceClassification");
    expect(read({ ...base, model_type: "bert" }).config.inputs).toEqual([
      "input_ids",
      "attention_mask",
      "token_type_ids",
    ]);
    expect(() => read({ ...base, architectures: ["GPT2ForSequenceClassification"], model_type: "bert" })).toThrow(
      /unsupported architecture/,
    );
  });

  test("the scoring rule from the config: one label or multi-label → sigmoid, else softmax; regression refused", () => {
    const read = (raw: object) =>
      readClassifierConfig("config.json", { ...base, architectures: ["BertForSequenceClassification"], ...raw });
    expect(read({ num_labels: 1 }).config.activation).toBe("sigmoid");
    expect(read({ id2label: { 0: "a", 1: "b" }, problem_type: "multi_label_classification" }).config.activation).toBe(
      "sigmoid",
    );
    expect(read({ id2label: { 0: "a", 1: "b" } }).config.activation).toBe("softmax");
    expect(() => read({ problem_type: "regression" })).toThrow(/regression is not a classifier/);
  });

  test("DistilBERT's layer norms use eps 1e-12 whatever the config says, as its modeling code does", () => {
    const raw = {
      architectures: ["DistilBertForSequenceClassification"],
      dim: 8,
      n_layers: 1,
      n_heads: 2,
      hidden_dim: 16,
      vocab_size: 10,
      max_position_embeddings: 20,
      layer_norm_eps: 1e-5,
    };
    expect(readClassifierConfig("config.json", raw).config.layerNormEps).toBe(1e-12);
  });

  test("CamembertForSequenceClassification is the RoBERTa graph: an XLM-R checkpoint renamed to it gives the oracle's logits", async () => {
    const dir = join(tempDir("camembert"), "cam");
    cpSync(join(ORACLE, "xlmr-tiny-safetensors"), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ ...config, architectures: ["CamembertForSequenceClassification"], model_type: "camembert" }),
    );
    addTokenizer(dir, "xlmr");
    const out = tempDir("engines");
    // The oracle's 1000 embedding rows with XLM-R's real tokenizer: allowed.
    await convertModels([{ key: "cam", dir, origin: { local: dir }, allowVocabMismatch: true }], { outDir: out });
    const record = readModelRecord(join(out, "cam"))!;
    expect(record.architecture).toBe("CamembertForSequenceClassification");
    const expected = await Bun.file(join(ORACLE, "xlmr-tiny-safetensors", "expected.json")).json();
    const session = await ort.InferenceSession.create(join(out, "cam", "model.onnx"));
    const input = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
    for (const [i, ids] of (expected.input_ids as number[][]).entries()) {
      const real = ids.slice(
        0,
        (expected.attention_mask[i] as number[]).reduce((a, b) => a + b, 0),
      );
      const logits = Array.from((await session.run(modelFeeds([real], input))).logits.data as Float32Array);
      logits.forEach((v, j) => {
        expect(Math.abs(v - expected.logits[i][j])).toBeLessThan(1e-4);
      });
    }
    await session.release();
  }, 30_000); // converting with XLM-R's real tokenizer (a 17 MB definition to hash) takes ~5 s on a loaded 2-core box
});

describe("oracle fixtures walked by the tests", () => {
  test("each ../shared oracle is either built (the registry reads its config) or skipped (the registry refuses it), never both", () => {
    const { built, skipped } = oracleFolders();
    expect([...built, ...skipped.map((s) => s.name)].sort()).toEqual(readdirSync(ORACLE).sort());
    for (const name of built) {
      const file = join(ORACLE, name, "config.json");
      expect(() => readClassifierConfig(file, JSON.parse(readFileSync(file, "utf8")))).not.toThrow();
    }
    for (const { name } of skipped) {
      const file = join(ORACLE, name, "config.json");
      expect(() => readClassifierConfig(file, JSON.parse(readFileSync(file, "utf8")))).toThrow(
        "unsupported architecture",
      );
    }
    // The architectures convert has always built stay walked.
    expect(built).toEqual(
      expect.arrayContaining(["xlmr-tiny-safetensors", "roberta-tiny-bin", "bert-tiny-safetensors"]),
    );
  });
});
