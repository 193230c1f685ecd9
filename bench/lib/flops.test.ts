import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { convertModels, type ModelSource } from "../../convert/pipeline.ts";
import { readModelRecord } from "../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { ORACLE, sharedFile } from "../../testkit/shared.ts";
import { oracleFolders } from "../../testkit/oracle.ts";
import { forwardFlops, meanForwardFlops, shapeFromConfig, shapeFromRecord } from "./flops.ts";

// Eight tiny conversions with real tokenizer files (hashing XLM-R's takes about a second).
setDefaultTimeout(60_000);

/** bert-base-uncased's config.json as published (with a two-label head). */
const BERT_BASE = {
  architectures: ["BertForSequenceClassification"],
  model_type: "bert",
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  vocab_size: 30522,
};

const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

describe("FLOPs of BERT-base, worked by hand", () => {
  const shape = shapeFromConfig(BERT_BASE);

  test("the matrices: 4d² + 2·d·ff per layer for the tokens, d² + labels·d for the head", () => {
    // Per layer: Q, K, V, O are 768 × 768 (4 × 589,824 = 2,359,296), FFN in and out 768 × 3072
    // (2 × 2,359,296 = 4,718,592): 7,077,888; twelve layers 84,934,656.
    expect(shape.tokenMatrixParams).toBe(84_934_656);
    // Pooler 768 × 768 = 589,824 and classifier 2 × 768 = 1,536.
    expect(shape.rowMatrixParams).toBe(591_360);
    expect(shape).toMatchObject({ layers: 12, hidden: 768, intermediate: 3072, numLabels: 2 });
  });

  test("the weight bytes: BertForSequenceClassification's 109,483,778 parameters less the word table, FP32", () => {
    // 109,483,778 (BertModel's published 109,482,240 + classifier 1,538) − 30,522 × 768 = 86,042,882; × 4 bytes.
    expect(shape.weightBytesRead).toBe(344_171_528);
  });

  test("one row of 128 tokens: 2 per matrix parameter per token, 2 per head parameter, attention 4·n²·d per layer", () => {
    // 2 × 84,934,656 × 128 = 21,743,271,936; 2 × 591,360 = 1,182,720; 4 × 128² × 768 × 12 = 603,979,776.
    expect(forwardFlops(shape, 1, 128)).toBe(22_348_434_432);
    // Rows are independent: four rows cost four times one.
    expect(forwardFlops(shape, 4, 128)).toBe(4 * 22_348_434_432);
  });

  test("the mean over texts truncates each at the model's maximum and averages forwards, not lengths", () => {
    // 600 tokens are cut to 512; attention makes the mean of the forwards exceed the forward of the mean.
    const mean = meanForwardFlops(shape, [100, 600], 512);
    expect(mean).toBe((forwardFlops(shape, 1, 100) + forwardFlops(shape, 1, 512)) / 2);
    expect(mean).toBeGreaterThan(forwardFlops(shape, 1, 306));
    expect(meanForwardFlops(shape, [], 512)).toBeNaN();
  });

  test("DistilBERT's names (dim, n_layers, hidden_dim) and no token-type table", () => {
    const distil = shapeFromConfig({
      model_type: "distilbert",
      dim: 768,
      n_layers: 6,
      hidden_dim: 3072,
      max_position_embeddings: 512,
      vocab_size: 30522,
    });
    expect(distil.tokenMatrixParams).toBe(6 * 7_077_888);
    // distilbert-base-uncased's 66,362,880 parameters + the head's 768 × 768 + 768 and 2 × 768 + 2, less the
    // 30,522 × 768 word table: 43,514,114.
    expect(distil.weightBytesRead).toBe(43_514_114 * 4);
  });

  test("a config without the encoder's sizes is refused, naming the keys", () => {
    expect(() => shapeFromConfig({ model_type: "bert" })).toThrow("hidden_size or dim");
  });
});

describe("FLOPs of DeBERTa-v3-base, worked by hand", () => {
  // microsoft/deberta-v3-base's config.json with a two-label head.
  const shape = shapeFromConfig({
    architectures: ["DebertaV2ForSequenceClassification"],
    model_type: "deberta-v2",
    hidden_size: 768,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    intermediate_size: 3072,
    max_position_embeddings: 512,
    vocab_size: 128100,
    type_vocab_size: 0,
    relative_attention: true,
    position_buckets: 256,
    max_relative_positions: -1,
    pos_att_type: ["p2c", "c2p"],
    share_att_key: true,
    norm_rel_ebd: "layer_norm",
    position_biased_input: false,
    pooler_hidden_size: 768,
  });

  test("BERT-base's matrices, plus 512 relative rows scored by two terms at width 768", () => {
    expect(shape.tokenMatrixParams).toBe(84_934_656);
    expect(shape.rowMatrixParams).toBe(591_360);
    expect(shape.relative).toEqual({ rows: 512, terms: 2, width: 768 });
  });

  test("the weight bytes: 184,423,682 parameters less the 128,100 × 768 word table, FP32", () => {
    // Embeddings' norm 1,536; 12 layers × (7,077,888 matrices + 9,984 vectors) = 85,054,464; relative rows
    // 512 × 768 = 393,216 and their norm 1,536; pooler 590,592; classifier 1,538: 86,042,882 besides the
    // 98,380,800-entry word table (183,831,552 for DebertaV2Model as published, + pooler + classifier).
    expect(shape.weightBytesRead).toBe(86_042_882 * 4);
  });

  test("one row of 128 tokens: BERT-base's count, the c2p and p2c scores, and the relative projections once", () => {
    // BERT-base's 22,348,434,432 (above); c2p + p2c: 2 terms × 12 layers × 2 × 128 × 512 × 768 =
    // 2,415,919,104; the 512 relative rows through key_proj and query_proj: 2 × 12 × 2 × 512 × 768 × 768 =
    // 14,495,514,624, once per forward.
    expect(forwardFlops(shape, 1, 128)).toBe(22_348_434_432 + 2_415_919_104 + 14_495_514_624);
    // Four rows: four times everything but the projections.
    expect(forwardFlops(shape, 4, 128)).toBe(4 * (22_348_434_432 + 2_415_919_104) + 14_495_514_624);
  });
});

describe("FLOPs of ModernBERT-base and ELECTRA-small, worked by hand", () => {
  /** answerdotai/ModernBERT-base's config.json (no biases) with a two-label head. */
  const MODERNBERT_BASE = {
    architectures: ["ModernBertForSequenceClassification"],
    model_type: "modernbert",
    hidden_size: 768,
    num_hidden_layers: 22,
    num_attention_heads: 12,
    intermediate_size: 1152,
    max_position_embeddings: 8192,
    vocab_size: 50368,
    attention_bias: false,
    mlp_bias: false,
    norm_bias: false,
    classifier_bias: false,
  };

  test("ModernBERT: Wqkv + Wo = 4d², the GeGLU's Wi (d × 2ff) + Wo (ff × d) = 3·d·ff per layer, no position table", () => {
    const shape = shapeFromConfig(MODERNBERT_BASE);
    // Per layer 4 × 589,824 = 2,359,296 plus 3 × 768 × 1152 = 2,654,208: 5,013,504; 22 layers 110,297,088.
    expect(shape.tokenMatrixParams).toBe(110_297_088);
    expect(shape.rowMatrixParams).toBe(768 * 768 + 2 * 768);
    expect(shape).toMatchObject({ layers: 22, hidden: 768, intermediate: 1152, numLabels: 2 });
    // Norms without bias: 22 MLP + 21 attention (layer 0 has none) + embeddings, final, head = 46 × 768 = 35,328;
    // 110,297,088 + 35,328 + 591,360 + the classifier's 2 biases = 110,923,778 parameters read, FP32.
    expect(shape.weightBytesRead).toBe(110_923_778 * 4);
    // One row of 128: 2 × 110,297,088 × 128 = 28,236,054,528; head 2 × 591,360 = 1,182,720; attention
    // 4 × 128² × 768 × 22 = 1,107,296,256 (local layers are computed in full under a window mask).
    expect(forwardFlops(shape, 1, 128)).toBe(29_344_533_504);
  });

  test("ModernBERT's biases count only where the config asks for them", () => {
    const biased = shapeFromConfig({ ...MODERNBERT_BASE, num_hidden_layers: 1, attention_bias: true, mlp_bias: true });
    const plain = shapeFromConfig({ ...MODERNBERT_BASE, num_hidden_layers: 1 });
    // Wqkv 3 × 768 + Wo 768, Wi 2 × 1152 + Wo 768.
    expect((biased.weightBytesRead - plain.weightBytesRead) / 4).toBe(4 * 768 + 2 * 1152 + 768);
  });

  test("ELECTRA-small: embeddings 128 wide projected to 256 (a matrix every token goes through)", () => {
    const shape = shapeFromConfig({
      architectures: ["ElectraForSequenceClassification"],
      model_type: "electra",
      embedding_size: 128,
      hidden_size: 256,
      num_hidden_layers: 12,
      intermediate_size: 1024,
      max_position_embeddings: 512,
      type_vocab_size: 2,
      vocab_size: 30522,
    });
    // 12 × (4 × 256² + 2 × 256 × 1024) = 9,437,184, plus embeddings_project 128 × 256 = 32,768.
    expect(shape.tokenMatrixParams).toBe(9_469_952);
    // ElectraModel's 13,483,008 parameters less the 30,522 × 128 word table (9,576,192), plus the head's
    // dense 256 × 256 + 256 and out_proj 2 × 256 + 2 (66,306).
    expect(shape.weightBytesRead).toBe(9_642_498 * 4);
    expect(shape.hidden).toBe(256);
  });
});

/** The tokenizer fixture each config's model_type uses (DistilBERT's and ELECTRA's is BERT's vocabulary). */
const TOKENIZER_OF = {
  "xlm-roberta": "xlmr",
  roberta: "roberta",
  bert: "bert",
  distilbert: "distilbert",
  "deberta-v2": "deberta",
  electra: "bert",
  modernbert: "modernbert",
} as const;

/** bert-onnx-export is served as the given ONNX file: engine.json then lists no weights to count. */
const GIVEN_ONNX = "bert-onnx-export";

/**
 * An oracle checkpoint (or, for the ONNX export, its given model.onnx) with its family's tokenizer, in a scratch
 * folder; the oracles' 600–1000 embedding rows are paired with real tokenizers, so the mismatch is allowed.
 */
function oracleSource(name: string, root: string): ModelSource {
  const dir = join(root, name);
  cpSync(join(ORACLE, name), dir, { recursive: true });
  if (name === GIVEN_ONNX) rmSync(join(dir, "model.safetensors"));
  const modelType = readJson(join(dir, "config.json")).model_type as keyof typeof TOKENIZER_OF;
  addTokenizer(dir, TOKENIZER_OF[modelType]);
  return { key: name, dir, origin: { local: dir }, onnxAsGiven: name === GIVEN_ONNX, allowVocabMismatch: true };
}

describe("the served shape (engine.json) equals the shape of the config", () => {
  const oracles = oracleFolders().built;
  const root = tempDir("flops-oracles");
  const engines = tempDir("flops-engines");
  beforeAll(() =>
    convertModels(
      oracles.map((name) => oracleSource(name, root)),
      { outDir: engines, log: () => {} },
    ),
  );
  afterAll(() =>
    [root, engines].forEach((dir) => {
      rmSync(dir, { recursive: true, force: true });
    }),
  );

  for (const name of oracles.filter((n) => n !== GIVEN_ONNX))
    test(`${name}: shapeFromRecord of its engine.json = shapeFromConfig of its config.json`, () => {
      const config = readJson(join(ORACLE, name, "config.json"));
      const record = readModelRecord(join(engines, name))!;
      const shape = shapeFromRecord(record);
      expect(shape).toEqual(shapeFromConfig(config));
      // Every weight the converter proved is counted once: read, or the word table.
      const wordTable = (config.vocab_size as number) * ((config.embedding_size as number | undefined) ?? shape.hidden);
      expect(shape.weightBytesRead / 4 + wordTable).toBe(record.parameters.total);
    });

  test(`${GIVEN_ONNX}, served as the given ONNX file, lists no weights: shapeFromRecord says to count from config.json`, () => {
    const record = readModelRecord(join(engines, GIVEN_ONNX))!;
    expect(record.weights).toEqual([]);
    expect(() => shapeFromRecord(record)).toThrow("count them from its config.json");
  });
});

describe("the five real models' configs (../shared/models)", () => {
  const models = readdirSync(sharedFile("models"), { withFileTypes: true }).filter((e) => e.isDirectory());

  test("five base-size encoders: 12 layers of 768 with a 3072 feed-forward, the head sized by the labels", () => {
    expect(models.length).toBe(5);
    for (const m of models) {
      const config = readJson(sharedFile("models", m.name, "config.json"));
      const labels = Object.keys((config.id2label as object | undefined) ?? {}).length || 2;
      expect(shapeFromConfig(config)).toMatchObject({ layers: 12, hidden: 768, intermediate: 3072, numLabels: labels });
      expect(shapeFromConfig(config).rowMatrixParams).toBe(768 * 768 + labels * 768);
    }
  });

  test("XLM-R base has ~278 M parameters, most of them the 250,002 × 768 word table; RoBERTa base ~125 M", () => {
    for (const m of models) {
      const config = readJson(sharedFile("models", m.name, "config.json"));
      const shape = shapeFromConfig(config);
      const wordTable = (config.vocab_size as number) * shape.hidden;
      const total = shape.weightBytesRead / 4 + wordTable;
      if (config.model_type === "xlm-roberta") {
        // 278,045,186 with two labels; each more label adds 769.
        expect(total).toBe(278_045_186 + 769 * (shape.numLabels - 2));
        expect(wordTable / total).toBeGreaterThan(0.69);
      } else {
        expect(config.model_type).toBe("roberta");
        expect(total).toBe(124_647_170 + 769 * (shape.numLabels - 2));
      }
    }
  });
});
