import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { onnx } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { readModelRecord } from "../../lib/store/index.ts";
import { startFakeHub } from "../../testkit/fake-hub.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { ORACLE } from "../../testkit/shared.ts";
import { startTestServer, type TestServer } from "../../testkit/server.ts";
import { parseCli } from "../cli.ts";
import { ConvertError } from "../errors.ts";
import { sha256File } from "../hash.ts";
import { parseManifest } from "../manifest.ts";
import { checkGivenGraph, readGivenConfig } from "./onnx-as-given.ts";
import { ElemType, GraphBuilder } from "../onnx/graph.ts";
import { readModel } from "../onnx/model-file.ts";
import { convertModels, type ModelSource } from "../pipeline.ts";
import { buildTrtEngines, defaultExec } from "../trt/build.ts";
import { graphIo } from "../trt/epcontext.ts";
import { trtexecArgs } from "../trt/trtexec.ts";

// Real tokenizer files, onnxruntime sessions, one running service.
setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "..", "..");
const FAKE_GPU = join(ROOT, "testkit", "fake-gpu");
/** Served as given; the oracle export's 900 embedding rows are paired with BERT's real 30522-id tokenizer, so allowed. */
const asGiven = (key: string, dir: string): ModelSource => ({
  key,
  dir,
  origin: { local: dir },
  onnxAsGiven: true,
  allowVocabMismatch: true,
});

/** `bun convert/index.ts ARGS` as a user runs it. */
async function convertCli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(["bun", "convert/index.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

const noLeftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes(".tmp-") || n.includes(".old-"));

/** bert-onnx-export as someone brings it: torch.onnx's model.onnx, config.json and the BERT tokenizer, no checkpoint. */
function broughtBert(): string {
  const dir = join(tempDir("brought"), "bert");
  cpSync(join(ORACLE, "bert-onnx-export"), dir, { recursive: true });
  rmSync(join(dir, "model.safetensors"));
  addTokenizer(dir, "bert");
  return dir;
}

/** Cuts a folder's BERT tokenizer (tokenizer.json and vocab.txt) to its first `ids` ids: every other word is [UNK]. */
function keepFirstIds(dir: string, ids: number) {
  const file = join(dir, "tokenizer.json");
  const tokenizer = JSON.parse(readFileSync(file, "utf8"));
  const vocab = tokenizer.model.vocab as Record<string, number>;
  tokenizer.model.vocab = Object.fromEntries(Object.entries(vocab).filter(([, id]) => id < ids));
  writeFileSync(file, JSON.stringify(tokenizer));
  const lines = readFileSync(join(dir, "vocab.txt"), "utf8").split("\n");
  writeFileSync(join(dir, "vocab.txt"), `${lines.slice(0, ids).join("\n")}\n`);
}

const VOCAB = 128;
const HIDDEN = 4;

interface TinySpec {
  /** Name → element type, in the graph's order. */
  inputs?: Record<string, number>;
  inputDims?: (number | string)[];
  output?: string;
  outputType?: number;
  outputDims?: (number | string)[];
  extraOutput?: boolean;
  labels?: number;
  /** Where the graph says its weights are (optimum writes model.onnx_data). */
  dataFile?: string;
}

/** Deterministic small weights: value i of a tensor is sin(seed + i) / 2. */
const weightValues = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i) / 2);

/**
 * A small classifier written as an exporter would (weights in one external file): the embeddings of
 * the unmasked tokens summed, then a linear head. Its logits are easy to compute by hand.
 */
function writeTinyClassifier(dir: string, spec: TinySpec = {}) {
  const labels = spec.labels ?? 3;
  const g = new GraphBuilder("tiny");
  const inputs = spec.inputs ?? { input_ids: ElemType.INT64, attention_mask: ElemType.INT64 };
  for (const [name, type] of Object.entries(inputs)) g.input(name, type, spec.inputDims ?? ["batch", "sequence"]);
  const weights: { name: string; values: Float32Array }[] = [];
  const weight = (name: string, dims: number[]) => {
    const count = dims.reduce((a, b) => a * b, 1);
    const values = weightValues(count, weights.length + 1);
    weights.push({ name, values });
    const bytes = new Uint8Array(values.buffer);
    return g.weight({ name, dims, dataType: ElemType.FLOAT, byteLength: bytes.byteLength, bytes: () => bytes });
  };
  const embedded = g.op("Gather", [weight("embeddings", [VOCAB, HIDDEN]), "input_ids"]);
  const mask = g.op("Unsqueeze", [g.op("Cast", ["attention_mask"], { to: ElemType.FLOAT }), g.constInt64([2])]);
  const summed = g.op("ReduceSum", [g.op("Mul", [embedded, mask]), g.constInt64([1])], { keepdims: 0 });
  // An FP32 constant kept inside model.onnx, as optimum keeps tensors under 1 KiB.
  const pooled = g.op("Mul", [summed, g.constFloat(1)]);
  const head = [weight("classifier.weight", [labels, HIDDEN]), weight("classifier.bias", [labels])];
  const logits = g.op("Gemm", [pooled, ...head], { transB: 1 }, spec.output ?? "logits");
  g.output(logits, spec.outputType ?? ElemType.FLOAT, spec.outputDims ?? ["batch", labels]);
  if (spec.extraOutput) g.output(pooled, ElemType.FLOAT, ["batch", HIDDEN]);
  const dataFile = spec.dataFile ?? "model.onnx_data";
  const layout = new Map<string, number>();
  let end = 0;
  for (const t of g.external) {
    layout.set(t.name, end);
    end += t.byteLength;
  }
  const data = new Uint8Array(end);
  for (const t of g.external) data.set(t.bytes(), layout.get(t.name)!);
  writeFileSync(join(dir, dataFile), data);
  const model = onnx.ModelProto.encode(onnx.ModelProto.create(g.toModel(dataFile, layout, "tiny exporter"))).finish();
  writeFileSync(join(dir, "model.onnx"), model);
  return { weights: Object.fromEntries(weights.map((w) => [w.name, w.values])) };
}

/** A folder with a tiny classifier of an architecture convert does not build, its config.json and the BERT tokenizer. */
function tinyFolder(spec: TinySpec = {}, config: Record<string, unknown> = {}) {
  const dir = join(tempDir("tiny-onnx"), "model");
  mkdirSync(dir);
  const { weights } = writeTinyClassifier(dir, spec);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      architectures: ["DebertaV2ForSequenceClassification"],
      model_type: "deberta-v2",
      max_position_embeddings: 512,
      id2label: { 0: "negative", 1: "neutral", 2: "positive" },
      ...config,
    }),
  );
  addTokenizer(dir, "bert");
  return { dir, weights };
}

/** The tiny classifier's logits computed by hand: W · Σ embeddings[id] + b. */
function tinyLogits(weights: Record<string, Float32Array>, ids: number[]): number[] {
  const pooled = Array.from({ length: HIDDEN }, (_, h) =>
    ids.reduce((sum, id) => sum + weights.embeddings[id * HIDDEN + h], 0),
  );
  const bias = weights["classifier.bias"];
  return Array.from(bias, (b, l) =>
    pooled.reduce((sum, x, h) => sum + x * weights["classifier.weight"][l * HIDDEN + h], b),
  );
}

/** Runs a model on padded rows as the service would: its own inputs, token types 0, the record's integer type. */
async function runModel(modelPath: string, ids: number[][], mask: number[][], type: "int64" | "int32" = "int64") {
  const session = await ort.InferenceSession.create(modelPath);
  const shape = [ids.length, ids[0].length];
  const tensor = (rows: number[][]) =>
    type === "int32"
      ? new ort.Tensor("int32", Int32Array.from(rows.flat()), shape)
      : new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), shape);
  const all: Record<string, ort.Tensor> = {
    input_ids: tensor(ids),
    attention_mask: tensor(mask),
    token_type_ids: tensor(ids.map((r) => r.map(() => 0))),
  };
  const out = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, all[n]])));
  const logits = out[session.outputNames[0]];
  await session.release();
  return { data: Array.from(logits.data as Float32Array), dims: logits.dims };
}

const maxAbsDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
const softmax = (xs: number[]) => {
  const top = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};

describe("an ONNX model brought as it is: bert-onnx-export (torch.onnx, opset 14, its own names)", () => {
  let src: string;
  let out: string;
  beforeAll(async () => {
    src = broughtBert();
    out = tempDir("engines");
    await convertModels([asGiven("given", src)], { outDir: out });
  });

  test("onnxruntime on the served copy reproduces the oracle's logits within 1e-4", async () => {
    const expected = await Bun.file(join(ORACLE, "bert-onnx-export", "expected.json")).json();
    const { data, dims } = await runModel(
      join(out, "given", "model.onnx"),
      expected.input_ids,
      expected.attention_mask,
    );
    expect(dims).toEqual([expected.logits.length, expected.logits[0].length]);
    expect(maxAbsDiff(expected.logits.flat(), data)).toBeLessThan(expected.tolerance.logits_abs);
  });

  test("engine.json: proof not applicable, the copied file's sha256, the graph's inputs in its order, config.json's labels", () => {
    const record = readModelRecord(join(out, "given"))!;
    expect(record.weightProof).toBe("not applicable: served as given");
    expect(record.weights).toEqual([]);
    const served = sha256File(join(out, "given", "model.onnx"));
    expect(record.onnx.modelSha256).toBe(served);
    expect(served).toBe(sha256File(join(src, "model.onnx")));
    expect(record.files).toEqual({
      "config.json": sha256File(join(src, "config.json")),
      "model.onnx": served,
    });
    expect(record.onnx).toEqual({
      model: "model.onnx",
      data: null,
      opset: 14,
      modelSha256: served,
      inputs: ["input_ids", "attention_mask", "token_type_ids"],
      inputType: "int64",
      outputs: ["logits"],
    });
    expect(record.architecture).toBe("BertForSequenceClassification");
    expect(record.labels).toEqual(["anger", "joy", "sadness"]);
    expect(record.activation).toBe("softmax");
    expect(record.maxLength).toBe(64); // max_position_embeddings, within the tokenizer's 512
    expect(record.specialTokens).toEqual({ pad: 0, prefix: [101], suffix: [102] });
    // Counted from the FP32 initializers: the same 49,219 values the checkpoint holds.
    expect(record.parameters.total).toBe(49_219);
    expect(record.parameters.nonZero).toBeGreaterThan(0);
    expect(record.parameters.nonZero).toBeLessThanOrEqual(record.parameters.total);
    expect(record.parameters.bytes).toBe(record.parameters.total * 4);
    expect(readdirSync(join(out, "given")).sort()).toEqual(["engine.json", "model.onnx"]);
  });

  test("re-running with the same files keeps the outputs", async () => {
    const again = await convertModels([asGiven("given", src)], { outDir: out });
    expect(again).toMatchObject({ converted: [], unchanged: ["given"] });
  });

  test("bun convert/index.ts --model KEY=onnx:DIR converts it (exit 0)", async () => {
    const cliOut = tempDir("cli-engines");
    const { stdout, stderr, code } = await convertCli([
      "--model",
      `brought=onnx:${src}`,
      "--out",
      cliOut,
      "--allow-vocab-mismatch",
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(/brought: converted .*BertForSequenceClassification, 3 labels/);
    const record = readModelRecord(join(cliOut, "brought"))!;
    expect(record.weightProof).toBe("not applicable: served as given");
    expect(record.onnx.modelSha256).toBe(sha256File(join(src, "model.onnx")));
  });
});

describe("a manifest entry with onnx: true", () => {
  test("bun run convert with MANIFEST downloads model.onnx and its data from the Hub and serves them as given", async () => {
    const commit = "0123456789abcdef0123456789abcdef01234567";
    const hub = startFakeHub([
      { id: "acme/bert-onnx", commit, dir: broughtBert(), lfs: (p) => p.startsWith("model.onnx") },
      { id: "acme/deberta-onnx", commit, dir: tinyFolder().dir, lfs: (p) => p.startsWith("model.onnx") },
    ]);
    try {
      const manifest = join(tempDir("manifest"), "models.json");
      const models = [
        { key: "emotions", hubId: "acme/bert-onnx", revision: commit, onnx: true },
        { key: "sentiment", hubId: "acme/deberta-onnx", revision: commit, onnx: true, labelFixes: { upperCase: true } },
      ];
      writeFileSync(manifest, JSON.stringify({ models }));
      const out = tempDir("engines");
      const env = { MANIFEST: manifest, HF_ENDPOINT: hub.url, CONVERT_CACHE_DIR: tempDir("hub-cache") };
      const { stdout, stderr, code } = await convertCli(["--out", out, "--allow-vocab-mismatch"], env);
      expect({ code, stderr }).toEqual({ code: 0, stderr: expect.not.stringContaining("failed") });
      expect(stdout).toMatch(/done: 2 converted/);
      const emotions = readModelRecord(join(out, "emotions"))!;
      expect(emotions.source).toEqual({ hubId: "acme/bert-onnx", revision: commit, commit });
      expect(emotions.weightProof).toBe("not applicable: served as given");
      const sentiment = readModelRecord(join(out, "sentiment"))!;
      expect(sentiment.onnx.data).toBe("model.onnx_data");
      expect(sentiment.labels).toEqual(["NEGATIVE", "NEUTRAL", "POSITIVE"]);
      expect(existsSync(join(out, "sentiment", "model.onnx_data"))).toBe(true);
    } finally {
      hub.stop();
    }
  });
});

describe("weights in an external file, as exporters write them", () => {
  test("a converted BERT's model.onnx + model.onnx.data, brought as they are, reproduce its oracle", async () => {
    const oracle = join(tempDir("oracle"), "bert");
    cpSync(join(ORACLE, "bert-tiny-safetensors"), oracle, { recursive: true });
    addTokenizer(oracle, "bert");
    const built = tempDir("built");
    // The oracle's 900 embedding rows with BERT's real tokenizer: allowed.
    await convertModels([{ key: "bert", dir: oracle, origin: { local: oracle }, allowVocabMismatch: true }], {
      outDir: built,
    });

    const brought = join(tempDir("brought"), "bert");
    mkdirSync(brought);
    for (const f of ["model.onnx", "model.onnx.data"]) copyFileSync(join(built, "bert", f), join(brought, f));
    copyFileSync(join(oracle, "config.json"), join(brought, "config.json"));
    addTokenizer(brought, "bert");
    const out = tempDir("engines");
    await convertModels([asGiven("bert", brought)], { outDir: out });

    const record = readModelRecord(join(out, "bert"))!;
    expect(record.onnx.data).toBe("model.onnx.data");
    expect(record.files["model.onnx.data"]).toBe(sha256File(join(brought, "model.onnx.data")));
    expect(sha256File(join(out, "bert", "model.onnx.data"))).toBe(record.files["model.onnx.data"]);
    // Every weight of the built model counted again from the brought file, and the graph's FP32 scalars (eps, scale).
    const scalars = [...readModel(join(built, "bert", "model.onnx")).initializers.values()].filter(
      (i) => i.dataType === ElemType.FLOAT && i.dims.length === 0,
    ).length;
    expect(scalars).toBeGreaterThan(0);
    expect(record.parameters.total).toBe(readModelRecord(join(built, "bert"))!.parameters.total + scalars);
    const expected = await Bun.file(join(ORACLE, "bert-tiny-safetensors", "expected.json")).json();
    const { data } = await runModel(join(out, "bert", "model.onnx"), expected.input_ids, expected.attention_mask);
    expect(maxAbsDiff(expected.logits.flat(), data)).toBeLessThan(expected.tolerance.logits_abs);
  });

  test("optimum's model.onnx_data, int32 inputs in the graph's own order and its own output name", async () => {
    const { dir, weights } = tinyFolder({
      inputs: { attention_mask: ElemType.INT32, input_ids: ElemType.INT32, token_type_ids: ElemType.INT32 },
      output: "scores",
    });
    const out = tempDir("engines");
    await convertModels([asGiven("tiny", dir)], { outDir: out });
    const record = readModelRecord(join(out, "tiny"))!;
    expect(record.onnx).toMatchObject({
      data: "model.onnx_data",
      opset: 17,
      inputs: ["attention_mask", "input_ids", "token_type_ids"],
      inputType: "int32",
      outputs: ["scores"],
    });
    expect(record.architecture).toBe("DebertaV2ForSequenceClassification");
    expect(readdirSync(join(out, "tiny")).sort()).toEqual(["engine.json", "model.onnx", "model.onnx_data"]);
    // The data file holds less than the FP32 parameters (one stayed inline), and the outputs are still kept.
    expect(record.parameters.bytes).toBe(statSync(join(dir, "model.onnx_data")).size + 4);
    expect(await convertModels([asGiven("tiny", dir)], { outDir: out })).toMatchObject({ unchanged: ["tiny"] });
    const ids = [101, 7, 42, 102];
    const { data } = await runModel(join(out, "tiny", "model.onnx"), [ids], [ids.map(() => 1)], "int32");
    expect(maxAbsDiff(tinyLogits(weights, ids), data)).toBeLessThan(1e-5);
  });
});

describe("graphs the service cannot feed or read are refused, naming the file, with no output", () => {
  const cases: [string, () => string, RegExp][] = [
    [
      "an output with another label count than config.json's id2label",
      () => {
        const dir = broughtBert();
        const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
        config.id2label = { 0: "anger", 1: "joy", 2: "sadness", 3: "fear" };
        writeFileSync(join(dir, "config.json"), JSON.stringify(config));
        return dir;
      },
      /bert\/model\.onnx: output logits is \[batch, 3\]; config\.json's 4 labels need \[batch, 4\]/,
    ],
    [
      "an input the service does not know",
      () =>
        tinyFolder({
          inputs: { input_ids: ElemType.INT64, attention_mask: ElemType.INT64, position_ids: ElemType.INT64 },
        }).dir,
      /model\/model\.onnx: takes position_ids: the service feeds only input_ids, attention_mask, token_type_ids/,
    ],
    [
      "a float input",
      () =>
        tinyFolder({
          inputs: { input_ids: ElemType.INT64, attention_mask: ElemType.FLOAT },
        }).dir,
      /model\.onnx: input attention_mask is FLOAT, not int64 or int32/,
    ],
    [
      "no attention_mask",
      () => tinyFolder({ inputs: { input_ids: ElemType.INT64 } }).dir,
      /model\.onnx: takes no attention_mask/,
    ],
    [
      "inputs of two integer types",
      () =>
        tinyFolder({
          inputs: { input_ids: ElemType.INT64, attention_mask: ElemType.INT32 },
        }).dir,
      /model\.onnx: its inputs mix int64 and int32/,
    ],
    [
      "a fixed sequence length",
      () => tinyFolder({ inputDims: ["batch", 128] }).dir,
      /model\.onnx: input input_ids is \[batch, 128\], not \[batch, sequence\]: export it with dynamic axes/,
    ],
    [
      "a fixed batch",
      () => tinyFolder({ outputDims: [1, 3] }).dir,
      /model\.onnx: output logits is \[1, 3\]; config\.json's 3 labels need \[batch, 3\]/,
    ],
    ["two outputs", () => tinyFolder({ extraOutput: true }).dir, /model\.onnx: has 2 outputs \(logits, .*\)/],
    [
      "a float16 output",
      () => tinyFolder({ outputType: ElemType.FLOAT16 }).dir,
      /model\.onnx: output logits is FLOAT16, not float/,
    ],
    [
      "external data outside the model's folder",
      () => tinyFolder({ dataFile: "../weights.bin" }).dir,
      /model\.onnx: external data "\.\.\/weights\.bin" is not a file beside the model/,
    ],
    [
      "external data missing",
      () => {
        const { dir } = tinyFolder();
        rmSync(join(dir, "model.onnx_data"));
        return dir;
      },
      /model\.onnx: external data model\.onnx_data is missing/,
    ],
    [
      "no model.onnx",
      () => {
        const dir = broughtBert();
        rmSync(join(dir, "model.onnx"));
        return dir;
      },
      /bert: no model\.onnx/,
    ],
    [
      "no maximum length anywhere",
      () => {
        const { dir } = tinyFolder({}, { max_position_embeddings: undefined });
        writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 1e30 }));
        return dir;
      },
      /model\/config\.json: no maximum length: add max_position_embeddings/,
    ],
  ];
  for (const [what, make, message] of cases)
    test(what, async () => {
      const dir = make();
      const out = tempDir("engines");
      const err = await convertModels([asGiven("m", dir)], { outDir: out }).catch((e) => e);
      expect(err).toBeInstanceOf(ConvertError);
      expect(err.message).toMatch(message);
      expect(existsSync(join(out, "m"))).toBe(false);
      expect(existsSync(join(out, "index.json"))).toBe(false);
      expect(noLeftovers(out)).toEqual([]);
    });
});

describe("a running service answers with models brought as they are", () => {
  let server: TestServer;
  let engines: string;
  let tiny: ReturnType<typeof tinyFolder>;
  beforeAll(async () => {
    tiny = tinyFolder({
      inputs: { input_ids: ElemType.INT32, attention_mask: ElemType.INT32 },
    });
    engines = tempDir("engines");
    // Served, a model must take its tokenizer's largest id (the start warms up with it): both keep
    // only the first 128 of BERT's ids, the special ones among them.
    const given = broughtBert();
    // A BERT (whose code reads token types) exported without token_type_ids: it cannot take pairs.
    const typed = tinyFolder(
      { inputs: { input_ids: ElemType.INT64, attention_mask: ElemType.INT64 } },
      { architectures: ["BertForSequenceClassification"], model_type: "bert", type_vocab_size: 2 },
    );
    for (const dir of [given, tiny.dir, typed.dir]) keepFirstIds(dir, VOCAB);
    await convertModels([asGiven("given", given), asGiven("tiny", tiny.dir), asGiven("typed", typed.dir)], {
      outDir: engines,
    });
    server = await startTestServer(engines);
  });
  afterAll(() => server?.stop());

  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    }).then((r) => r.json());

  test("POST /process: each label and score is the softmax of onnxruntime's logits for the ids POST /tokenize gives", async () => {
    // The tiny models know 900 (BERT) and 128 ids: [UNK] (emoji) and [MASK] keep the real tokenizer's ids in range.
    const texts = ["😀", "😀 [MASK] 😀 [MASK] 🙃", "[MASK]"];
    const tokenized: { ids: number[] }[][] = await post("/tokenize", texts);
    const ids = tokenized.map((families) => families[0].ids);
    expect(ids[1]).toEqual([101, 100, 103, 100, 103, 100, 102]);
    const answers: Record<string, { label: string; score: number }[]>[] = await post("/process?top_k=all", texts);
    for (const [key, type] of [
      ["given", "int64"],
      ["tiny", "int32"],
    ] as const) {
      const record = readModelRecord(join(engines, key))!;
      for (const [i, row] of ids.entries()) {
        const { data } = await runModel(join(engines, key, "model.onnx"), [row], [row.map(() => 1)], type);
        const probs = softmax(data);
        const want = record.labels.map((label, l) => ({ label, score: probs[l] })).sort((a, b) => b.score - a.score);
        expect(answers[i][key].map((a) => a.label)).toEqual(want.map((w) => w.label));
        expect(
          maxAbsDiff(
            answers[i][key].map((a) => a.score),
            want.map((w) => w.score),
          ),
        ).toBeLessThan(1e-5);
        if (key === "tiny") expect(maxAbsDiff(tinyLogits(tiny.weights, row), data)).toBeLessThan(1e-5);
      }
    }
  });

  test("a pair to a model whose graph dropped the token types its code reads is 422 naming it; the others take pairs", async () => {
    const pair = { text: "[MASK]", text_pair: "😀" };
    const refused = await fetch(`${server.url}/process?models=given,typed`, {
      method: "POST",
      body: JSON.stringify(pair),
    });
    const error = (await refused.json()).error;
    expect([refused.status, error.code]).toEqual([422, "invalid_input"]);
    expect(error.message).toContain("model typed cannot take text pairs: its ONNX graph takes no token_type_ids");
    expect(error.message).toContain("type_vocab_size 2");
    // A single text to it is answered; pairs to the BERT export with token types and to the DeBERTa-configured graph too.
    const answered = await Promise.all([
      fetch(`${server.url}/process?models=typed`, { method: "POST", body: '"[MASK]"' }),
      fetch(`${server.url}/process?models=given,tiny`, { method: "POST", body: JSON.stringify(pair) }),
    ]);
    expect(answered.map((r) => r.status)).toEqual([200, 200]);
    expect(readModelRecord(join(engines, "tiny"))?.pairsRefused).toBeUndefined();
  });

  test("GET /models: the weight proof is not applicable, the graph's own inputs and type", async () => {
    const models: { key: string; weightProof: unknown; engine: { onnx: { inputType: string } } }[] = await (
      await fetch(`${server.url}/models`)
    ).json();
    for (const key of ["given", "tiny"]) {
      const m = models.find((x) => x.key === key)!;
      expect(m.weightProof).toEqual({ kind: "not applicable: served as given" });
      expect(m.engine.onnx.inputType).toBe(key === "tiny" ? "int32" : "int64");
    }
  });
});

describe("--trt on a model brought as it is (stand-ins for docker and nvidia-smi)", () => {
  test("trtexec shapes its own inputs; the EPContext wrapper declares them int32 and its own output", async () => {
    const { dir } = tinyFolder({
      inputs: { attention_mask: ElemType.INT32, input_ids: ElemType.INT32 },
      output: "scores",
    });
    const engines = tempDir("engines");
    await convertModels([asGiven("tiny", dir)], { outDir: engines });
    const calls: string[][] = [];
    const result = await buildTrtEngines({
      enginesDir: engines,
      runner: "docker",
      maxBatch: 4,
      opt: { batch: 2, sequence: 16 },
      workspaceMiB: 1024,
      commands: { docker: join(FAKE_GPU, "docker"), nvidiaSmi: join(FAKE_GPU, "nvidia-smi") },
      exec: (cmd) => {
        calls.push(cmd);
        return defaultExec(cmd);
      },
    });
    expect(result).toMatchObject({ built: ["tiny"] });
    const record = readModelRecord(join(engines, "tiny"))!;
    const run = calls.find((c) => c[0].endsWith("docker") && c[1] === "run")!;
    const args = run.slice(run.indexOf("trtexec"));
    const tmp = args
      .find((a) => a.startsWith("--saveEngine="))!
      .split("/")
      .pop()!;
    expect(args).toEqual(
      trtexecArgs({
        onnx: "/engines/tiny/model.onnx",
        engine: `/engines/tiny/${tmp}`,
        inputs: ["attention_mask", "input_ids"],
        profile: record.trt!.profile,
        workspaceMiB: 1024,
        timingCache: "/engines/.trt-timing.cache",
      }),
    );
    const wrapper = onnx.ModelProto.decode(readFileSync(join(engines, "tiny", record.trt!.contextModel)));
    const io = (v: onnx.IValueInfoProto) => [v.name, v.type?.tensorType?.elemType];
    expect(wrapper.graph!.input!.map(io)).toEqual([
      ["attention_mask", ElemType.INT32],
      ["input_ids", ElemType.INT32],
    ]);
    expect(wrapper.graph!.output!.map(io)).toEqual([["scores", ElemType.FLOAT]]);
    expect(record.trt!.onnxSha256).toBe(record.onnx.modelSha256);
  });
});

describe("deciding: config, graph, command line, manifest", () => {
  const config = (raw: Record<string, unknown>) => readGivenConfig("config.json", raw);

  test("the maximum length: the position table's, less pad + 1 where positions start after the padding index", () => {
    expect(
      config({ architectures: ["XLMRobertaForSequenceClassification"], max_position_embeddings: 514 }).maxLength,
    ).toBe(512);
    expect(config({ model_type: "mpnet", max_position_embeddings: 514, pad_token_id: 1 }).maxLength).toBe(512);
    expect(config({ model_type: "deberta-v2", max_position_embeddings: 512 }).maxLength).toBe(512);
    expect(config({ architectures: ["ModernBertForSequenceClassification"] }).maxLength).toBe(Infinity);
  });

  test("labels and scoring as for a built model; the architecture is any, model_type standing in", () => {
    const multi = config({
      model_type: "electra",
      problem_type: "multi_label_classification",
      id2label: { 0: "a", 1: "b" },
    });
    expect(multi).toEqual({
      architecture: "electra",
      labels: ["a", "b"],
      activation: "sigmoid",
      maxLength: Infinity,
      vocabSize: null,
    });
    expect(config({ architectures: ["X"], vocab_size: 900 }).vocabSize).toBe(900);
    expect(config({ architectures: ["X"], num_labels: 3 }).labels).toEqual(["LABEL_0", "LABEL_1", "LABEL_2"]);
    expect(() => config({ num_labels: 2 })).toThrow(/config\.json: names no architecture/);
    expect(() => config({ architectures: ["X"], problem_type: "regression" })).toThrow(
      /regression is not a classifier/,
    );
  });

  test("a dimension without a name or value is dynamic; initializers listed as inputs (IR < 4) are not fed", () => {
    const g = new GraphBuilder("old");
    g.input("input_ids", ElemType.INT64, ["batch", "sequence"]);
    g.input("attention_mask", ElemType.INT64, ["batch", "sequence"]);
    g.output("logits", ElemType.FLOAT, ["batch", 2]);
    const model = g.toModel("unused", new Map());
    const bias = { name: "bias", dataType: ElemType.FLOAT, dims: [2], rawData: new Uint8Array(8) };
    model.graph!.initializer!.push(bias);
    model.graph!.input!.push({
      name: "bias",
      type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{}] } } },
    });
    const decoded = onnx.ModelProto.decode(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
    decoded.graph!.input![0].type!.tensorType!.shape!.dim![0] = onnx.TensorShapeProto.Dimension.create({});
    expect(checkGivenGraph("m.onnx", decoded, 2)).toEqual({
      inputs: ["input_ids", "attention_mask"],
      inputType: "int64",
      output: "logits",
      data: null,
      opset: 17,
    });
    // The EPContext wrapper keeps it dynamic too (a named dimension), not a fixed 0.
    const file = join(tempDir("unnamed-dim"), "model.onnx");
    writeFileSync(file, onnx.ModelProto.encode(decoded).finish());
    expect(graphIo(file).inputs.map((i) => i.dims)).toEqual([
      ["input_ids_dim0", "sequence"],
      ["batch", "sequence"],
    ]);
  });

  test("--model KEY=onnx:SOURCE marks the source; the manifest's onnx field is a boolean", () => {
    const req = parseCli(["--model", "deberta=onnx:./models/deberta", "--model", "bert=./models/bert"], {});
    expect(req !== "help" && req.models).toEqual([
      { key: "deberta", source: "./models/deberta", onnxAsGiven: true },
      { key: "bert", source: "./models/bert" },
    ]);
    expect(() => parseCli(["--model", "deberta=onnx:"], {})).toThrow(/KEY=SOURCE or KEY=onnx:SOURCE/);
    const entry = { key: "deberta", hubId: "org/deberta", revision: "main" };
    expect(parseManifest("m.json", { models: [{ ...entry, onnx: true }] }).models[0].onnx).toBe(true);
    expect(() => parseManifest("m.json", { models: [{ ...entry, onnx: "yes" }] })).toThrow(
      /m\.json: models\[0\]\.onnx must be true/,
    );
  });
});
