import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ORACLE } from "../../../testkit/shared.ts";
import { readSafetensors } from "../../checkpoint/safetensors.ts";
import { readClassifierConfig } from "../registry.ts";

const oracle = (name: string) => JSON.parse(readFileSync(join(ORACLE, name, "config.json"), "utf8"));
const read = (raw: Record<string, unknown>) => readClassifierConfig("config.json", raw);

describe("ModernBERT's config", () => {
  test("as the oracle's config.json says: window, θs, every-n global, no biases, pooling; the longest input is max_position_embeddings", () => {
    const { config } = read(oracle("modernbert-tiny"));
    expect(config).toMatchObject({
      architecture: "ModernBertForSequenceClassification",
      localAttention: 8,
      globalAttnEveryNLayers: 3,
      globalRopeTheta: 160000,
      localRopeTheta: 10000,
      attentionBias: false,
      normBias: false,
      classifierPooling: "cls",
      layerNormEps: 1e-5,
      maxLength: 128,
      inputs: ["input_ids", "attention_mask"],
    });
  });

  test("a null local_rope_theta means the global θ, as transformers reads it", () => {
    const { config } = read({ ...oracle("modernbert-tiny"), local_rope_theta: null });
    expect(config).toMatchObject({ localRopeTheta: 160000 });
  });

  test("what is not built is refused, naming the file: other poolings, other activations, non-boolean bias flags", () => {
    const base = oracle("modernbert-tiny");
    expect(() => read({ ...base, classifier_pooling: "max" })).toThrow(/config\.json.*classifier_pooling "max"/);
    expect(() => read({ ...base, hidden_activation: "silu" })).toThrow(/hidden_activation "silu" is not supported/);
    expect(() => read({ ...base, attention_bias: "yes" })).toThrow(/attention_bias must be true or false/);
  });

  test("biases follow the config: with attention_bias true the graph needs Wqkv's bias, which this checkpoint lacks", async () => {
    const { arch, config } = read({ ...oracle("modernbert-tiny"), attention_bias: true });
    const file = join(ORACLE, "modernbert-tiny", "model.safetensors");
    const ckpt = readSafetensors(file, new Uint8Array(readFileSync(file)));
    expect(() => arch.build(config, ckpt)).toThrow(/model\.safetensors.*model\.layers\.0\.attn\.Wqkv\.bias is missing/);
  });
});
