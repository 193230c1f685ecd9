import { describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { noLeftovers, oracleSource, runLogits } from "../testkit/oracle.ts";
import { addTokenizer, tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { ORACLE } from "../testkit/shared.ts";
import { readSafetensors } from "./checkpoint/safetensors.ts";
import { ConvertError } from "./errors.ts";
import { sha256 } from "./hash.ts";
import { readModel } from "./onnx/model-file.ts";
import { parseCli } from "./cli.ts";
import { convertModels, type ModelSource } from "./pipeline.ts";
import { readModelRecord, readStore } from "../lib/store/index.ts";
import { TINY, writeRandomCheckpoint } from "./random/random-checkpoint.ts";

// Five tiny models with real tokenizer files (a definition hash of XLM-R's 17 MB file takes about a second).
setDefaultTimeout(30_000);

const ORACLES = [
  "xlmr-tiny-safetensors",
  "xlmr-tiny-bin",
  "roberta-tiny-bin",
  "bert-tiny-safetensors",
  "distilbert-tiny-bin",
  "bert-onnx-export",
  "xlmr-tiny-legacy",
  "bert-multilabel-legacy",
  "deberta-v3-tiny",
  "deberta-v2-tiny-conv",
  "deberta-v3-tiny-pairs",
  "electra-tiny",
  "modernbert-tiny",
  "modernbert-tiny-mean",
];

/**
 * Operators TensorRT 10's ONNX parser imports (onnx-tensorrt docs/operators.md), among those a
 * classifier graph could use; a graph op outside it would fail `convert --trt` on the GPU host. The
 * parser's conditions hold by construction: axes, CumSum's axis and Slice's bounds are initializers.
 */
const TENSORRT_PARSABLE = new Set(
  (
    "Abs Add And Cast Concat Conv Cos CumSum Div Equal Erf Exp Expand Gather Gemm Greater GreaterOrEqual " +
    "LayerNormalization Less LessOrEqual Log MatMul Max Min Mul Neg Not Or Pow Range ReduceMax ReduceMean " +
    "ReduceSum Relu Reshape Shape Sigmoid Sin Slice Softmax Split Sqrt Squeeze Sub Tanh Transpose Unsqueeze Where"
  ).split(" "),
);

describe("convert: oracle checkpoints", () => {
  for (const name of ORACLES) {
    test(`${name} converts and onnxruntime reproduces the oracle's logits within 1e-4`, async () => {
      const out = tempDir("engines");
      await convertModels([oracleSource(name)], { outDir: out });
      const expected = await Bun.file(join(ORACLE, name, "expected.json")).json();
      const { data, dims } = await runLogits(
        join(out, name, "model.onnx"),
        expected.input_ids,
        expected.attention_mask,
      );
      const want: number[] = expected.logits.flat();
      expect(dims).toEqual([expected.logits.length, expected.logits[0].length]);
      const maxDiff = Math.max(...want.map((v, i) => Math.abs(v - data[i])));
      expect(maxDiff).toBeLessThan(expected.tolerance.logits_abs);
      // The proof holds on each, and the record says how to feed and score the model.
      const record = readModelRecord(join(out, name))!;
      expect(record.weightProof).toBe("byte-identical");
      expect(record.weights.length).toBeGreaterThan(0);
      expect(record.weights.filter((w) => w.sha256 !== w.onnxSha256)).toEqual([]);
      expect(record.activation).toBe(expected.activation ?? "softmax");
      const types = name.startsWith("bert") || name.startsWith("electra") ? ["token_type_ids"] : [];
      expect(record.onnx.inputs).toEqual(["input_ids", "attention_mask", ...types]);
      // Standard ONNX only, each operator one TensorRT's ONNX parser imports: the padded graph and the packed one.
      expect(record.onnx.packed?.model).toBe("model.packed.onnx");
      for (const file of ["model.onnx", "model.packed.onnx"]) {
        const { model } = readModel(join(out, name, file));
        const ops = new Set(
          (model.graph?.node ?? []).map((n) => (n.domain ? `${n.domain}:${n.opType}` : String(n.opType))),
        );
        expect([file, ...[...ops].filter((op) => !TENSORRT_PARSABLE.has(op))]).toEqual([file]);
      }
    });
  }

  test("an old checkpoint whose layer norms are named gamma/beta converts to the same logits, its own names proven", async () => {
    const src = oracleSource("bert-tiny-safetensors");
    // Rename in the safetensors header only: the data bytes stay where they are.
    const file = join(src.dir, "model.safetensors");
    const bytes = readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + headerLength).toString("utf8");
    const renamed = header
      .replace(/LayerNorm\.weight"/g, 'LayerNorm.gamma"')
      .replace(/LayerNorm\.bias"/g, 'LayerNorm.beta"');
    expect(renamed).not.toBe(header);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(Buffer.byteLength(renamed)));
    writeFileSync(file, Buffer.concat([length, Buffer.from(renamed), bytes.subarray(8 + headerLength)]));
    const out = tempDir("engines");
    await convertModels([src], { outDir: out });
    const expected = await Bun.file(join(ORACLE, "bert-tiny-safetensors", "expected.json")).json();
    const { data } = await runLogits(join(out, src.key, "model.onnx"), expected.input_ids, expected.attention_mask);
    const want: number[] = expected.logits.flat();
    expect(Math.max(...want.map((v, i) => Math.abs(v - data[i])))).toBeLessThan(1e-4);
    const record = readModelRecord(join(out, src.key))!;
    expect(record.weights.some((w) => w.name.endsWith("LayerNorm.gamma"))).toBe(true);
    expect(record.weights.filter((w) => w.sha256 !== w.onnxSha256)).toEqual([]);
  });

  test("engine.json proves every used weight unaltered, hashed independently of the converter", async () => {
    const out = tempDir("engines");
    const src = oracleSource("xlmr-tiny-safetensors");
    await convertModels([src], { outDir: out });
    const info = readModelRecord(join(out, src.key))!;
    const ck = readSafetensors("m", new Uint8Array(await Bun.file(join(src.dir, "model.safetensors")).arrayBuffer()));
    // Every tensor but the ones the classifier does not use, each with matching hashes.
    expect(info.weights.map((w) => w.name).sort()).toEqual([...ck.tensors.keys()].sort());
    const { initializers } = readModel(join(out, src.key, "model.onnx"));
    for (const w of info.weights) {
      expect(w.sha256).toBe(sha256(ck.tensors.get(w.name)!.bytes()));
      expect(w.onnxSha256).toBe(sha256(initializers.get(w.name)!.bytes()));
    }
    expect(info.parameters.total).toBe(info.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0));
    expect(info.maxLength).toBe(64); // max_position_embeddings 66 − 2
    expect(info.files["model.safetensors"]).toBe(sha256(await Bun.file(join(src.dir, "model.safetensors")).bytes()));
  });

  test("the pytorch_model.bin's unused tensors (position_ids, pooler) are left out of the graph", async () => {
    const out = tempDir("engines");
    await convertModels([oracleSource("xlmr-tiny-bin")], { outDir: out });
    const names = readModelRecord(join(out, "xlmr-tiny-bin"))!.weights.map((w) => w.name);
    expect(names.some((n) => n.includes("pooler") || n.includes("position_ids"))).toBe(false);
    expect(names).toContain("classifier.out_proj.bias");
  });
});

describe("convert: the weight proof", () => {
  test("a byte flipped in a written weight makes convert fail and leaves no output", async () => {
    const out = tempDir("engines");
    const flip = (tmp: string) => {
      const file = join(tmp, "model.onnx.data");
      const data = new Uint8Array(Bun.mmap(file));
      const copy = data.slice();
      copy[4096 + 17] ^= 0x01; // inside the second tensor
      writeFileSync(file, copy);
    };
    const promise = convertModels([oracleSource("roberta-tiny-bin")], { outDir: out, afterWrite: flip });
    await expect(promise).rejects.toThrow(/differs from the checkpoint \(sha256/);
    expect(existsSync(join(out, "roberta-tiny-bin"))).toBe(false);
    expect(noLeftovers(out)).toEqual([]);
  });
});

describe("convert: malformed inputs end in a clear error naming the file, with no partial output", () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      "truncated safetensors",
      (d) =>
        writeFileSync(
          join(d, "model.safetensors"),
          new Uint8Array(Bun.mmap(join(d, "model.safetensors"))).slice(0, 5000),
        ),
      /model\.safetensors: not a valid safetensors file/,
    ],
    [
      "unknown architecture",
      (d) =>
        writeFileSync(join(d, "config.json"), JSON.stringify({ architectures: ["GPT2ForSequenceClassification"] })),
      /config\.json: unsupported architecture \["GPT2ForSequenceClassification"\]: convert builds .*BertForSequenceClassification.*DistilBertForSequenceClassification.*--model KEY=onnx:DIR/,
    ],
    [
      "config that is not JSON",
      (d) => writeFileSync(join(d, "config.json"), "{not json"),
      /config\.json: not valid JSON/,
    ],
    ["missing config", (d) => rmSync(join(d, "config.json")), /config\.json: missing/],
    [
      "missing weights",
      (d) => rmSync(join(d, "model.safetensors")),
      /no weights: expected one of model\.safetensors, pytorch_model\.bin/,
    ],
    [
      "missing tokenizer",
      (d) =>
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"].forEach((f) => {
          rmSync(join(d, f));
        }),
      /ships no tokenizer/,
    ],
    [
      "a weight with the wrong shape",
      (d) =>
        writeFileSync(
          join(d, "config.json"),
          JSON.stringify({ ...require(join(d, "config.json")), hidden_size: 64, num_attention_heads: 4 }),
        ),
      /word_embeddings\.weight has shape \[1000,32\], config\.json implies \[1000,64\]/,
    ],
  ];
  for (const [what, damage, message] of cases) {
    test(what, async () => {
      const src = oracleSource("xlmr-tiny-safetensors");
      damage(src.dir);
      const out = tempDir("engines");
      const err = await convertModels([src], { outDir: out }).catch((e) => e);
      expect(err).toBeInstanceOf(ConvertError);
      expect(err.message).toMatch(message);
      expect(existsSync(join(out, src.key))).toBe(false);
      expect(existsSync(join(out, "index.json"))).toBe(false);
    });
  }
});

describe("convert: the five-model manifest layout", () => {
  test("the four XLM-R models share one tokenizer family, RoBERTa has its own; labels are fixed", async () => {
    const out = tempDir("engines");
    const result = await convertModels(tinyManifestSources(), { outDir: out });
    expect(result.families.map((f) => f.members)).toEqual([
      ["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii"],
      ["jy46604790"],
    ]);
    const labels = (key: string) => readModelRecord(join(out, key))!.labels;
    expect(labels("cardiffnlp")).toEqual(["NEGATIVE", "NEUTRAL", "POSITIVE"]);
    expect(labels("ivanlau")[29]).toBe("Mongolian");
    expect(labels("ivanlau")).toContain("Ukranian");
    expect(labels("svalabs")).toEqual(["HAM", "SPAM"]);
    expect(labels("EIStakovskii")).toEqual(["LABEL_0", "LABEL_1"]);
    expect(labels("jy46604790")).toEqual(["LABEL_0", "LABEL_1"]);
    expect(readModelRecord(join(out, "cardiffnlp"))!.maxLength).toBe(512);
    const { index, families } = readStore(out);
    expect(index.models.map((m) => m.key)).toEqual(["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii", "jy46604790"]);
    for (const f of families) expect(existsSync(join(f.dir, "tokenizer.json"))).toBe(true);
  });

  test("re-running with unchanged inputs rewrites nothing", async () => {
    const out = tempDir("engines");
    const sources = tinyManifestSources();
    await convertModels(sources, { outDir: out });
    const mtime = statSync(join(out, "svalabs", "model.onnx.data")).mtimeMs;
    const again = await convertModels(sources, { outDir: out });
    expect(again.converted).toEqual([]);
    expect(again.unchanged).toHaveLength(5);
    expect(statSync(join(out, "svalabs", "model.onnx.data")).mtimeMs).toBe(mtime);
  });

  test("families are tokenizer definitions: the same vocabulary with another normalizer is another family", async () => {
    const root = tempDir("definitions");
    // Edits on the file's text: re-serializing it would respell its numbers (see definitionHash).
    const make = (key: string, edit?: (text: string) => string) => {
      const dir = join(root, key);
      writeRandomCheckpoint(dir, { ...TINY.xlmr, numLabels: 2 });
      addTokenizer(dir, "xlmr");
      if (edit) {
        const file = join(dir, "tokenizer.json");
        const text = readFileSync(file, "utf8");
        expect(edit(text)).not.toBe(text); // the edit applied
        writeFileSync(file, edit(text));
      }
      return { key, dir, origin: { local: dir } };
    };
    const sources = [
      make("a"),
      // What does not decide ids (truncation settings, the decoder, white space): the same family.
      make(
        "b",
        (t) =>
          ` ${t
            .replace('"truncation": null', '"truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0}')
            .replace('"decoder": {', '"decoder": {"unused": 1, ')}\n`,
      ),
      // Without the Replace(" {2,}", " ") step "a  b" tokenizes differently: another family.
      make("c", (t) => t.replace(', {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}', "")),
    ];
    const out = tempDir("engines");
    const r = await convertModels(sources, { outDir: out });
    expect(r.families.map((f) => f.members)).toEqual([["a", "b"], ["c"]]);
    const record = readModelRecord(join(out, "c"))!;
    expect(record.tokenizer.source).toBe("own tokenizer.json");
    expect(record.tokenizer.definitionSha256).toBe(r.families[1].definition);
    expect(record.tokenizer.family).not.toBe(readModelRecord(join(out, "a"))!.tokenizer.family);
  });

  test("keys are folders of the store: the tokenizers folder's name, paths and repeats are refused before anything is written", async () => {
    const src = oracleSource("roberta-tiny-bin");
    for (const [key, why] of [
      ["tokenizers", /reserved/],
      ["../x", /not a key/],
      ["", /not a key/],
    ] as const) {
      const out = tempDir("engines");
      const err = await convertModels([{ ...src, key }], { outDir: out }).catch((e) => e);
      expect([key, err instanceof ConvertError, String(err.message)]).toEqual([key, true, expect.stringMatching(why)]);
      expect(readdirSync(out)).toEqual([]);
    }
    const twice = await convertModels([src, src], { outDir: tempDir("engines") }).catch((e) => e);
    expect(twice.message).toMatch(/given twice/);
    expect(() => parseCli(["--model", "tokenizers=./x"])).toThrow(/reserved/);
  });

  test("a model without tokenizer.json takes its base model's, only after its vocabulary is proven equal", async () => {
    const root = tempDir("base");
    const model = join(root, "m");
    writeRandomCheckpoint(model, { ...TINY.roberta, numLabels: 2 });
    addTokenizer(model, "roberta");
    rmSync(join(model, "tokenizer.json")); // like jy46604790: vocab.json + merges.txt only
    const base = join(root, "base");
    addTokenizer(base, "roberta");
    const out = tempDir("engines");
    const r = await convertModels([{ key: "m", dir: model, origin: {}, baseTokenizerDir: base }], { outDir: out });
    expect(r.families[0].source).toContain("base model");
    expect(readModelRecord(join(out, "m"))!.tokenizer.source).toMatch(
      /ships only vocab\.json \+ merges\.txt, byte-identical/,
    );

    // A base whose merges differ by one line cannot stand in.
    const other = join(root, "other");
    addTokenizer(other, "roberta");
    writeFileSync(join(other, "merges.txt"), `${await Bun.file(join(other, "merges.txt")).text()}x y\n`);
    const err = await convertModels([{ key: "m", dir: model, origin: {}, baseTokenizerDir: other }], {
      outDir: tempDir("engines"),
    }).catch((e) => e);
    expect(err.message).toMatch(/vocabulary differs/);
    const none = await convertModels([{ key: "m", dir: model, origin: {} }], { outDir: tempDir("engines") }).catch(
      (e) => e,
    );
    expect(none.message).toMatch(/no tokenizer\.json for m and no base model tokenizer/);
  });
});

describe("convert: a tokenizer's ids must fit the model's embedding rows", () => {
  // RoBERTa's real tokenizer (largest id 50264) paired with a checkpoint of 1000 word-embedding rows.
  const mismatched = (): ModelSource => {
    const dir = join(tempDir("mismatch"), "m");
    writeRandomCheckpoint(dir, { ...TINY.roberta, vocabSize: 1000, numLabels: 2 });
    addTokenizer(dir, "roberta");
    return { key: "m", dir, origin: { local: dir } };
  };

  test("refused with both numbers and both files named, nothing written", async () => {
    const src = mismatched();
    const out = tempDir("engines");
    const err = await convertModels([src], { outDir: out }).catch((e) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect(err.file).toBe(join(src.dir, "tokenizer.json"));
    expect(err.message).toContain("largest token id 50264 is at or beyond the 1000 word-embedding rows of model m");
    expect(err.message).toContain(join(src.dir, "config.json"));
    expect(readdirSync(out)).toEqual([]);
  });

  test("accepted with the allowance (--allow-vocab-mismatch), as tests pairing tiny checkpoints with real tokenizers need", async () => {
    const out = tempDir("engines");
    const r = await convertModels([{ ...mismatched(), allowVocabMismatch: true }], { outDir: out });
    expect(r.converted).toEqual(["m"]);
  });

  test("a model whose rows hold every id converts without it (the tiny checkpoints keep the real vocabularies)", async () => {
    const dir = join(tempDir("fits"), "m");
    writeRandomCheckpoint(dir, { ...TINY.roberta, vocabSize: 50265, numLabels: 2 });
    addTokenizer(dir, "roberta");
    const r = await convertModels([{ key: "m", dir, origin: { local: dir } }], { outDir: tempDir("engines") });
    expect(r.converted).toEqual(["m"]);
  });
});

describe("convert: a special or oversized file in place of a model's file is refused by name, unopened", () => {
  const source = (): ModelSource => {
    const dir = join(tempDir("special"), "m");
    writeRandomCheckpoint(dir, { ...TINY.roberta, numLabels: 2 });
    addTokenizer(dir, "roberta");
    return { key: "m", dir, origin: { local: dir } };
  };

  test("a FIFO as the weights file (opened, it would block; mapped, an error naming no file)", async () => {
    const src = source();
    const weights = join(src.dir, "model.safetensors");
    rmSync(weights);
    expect(await Bun.spawn(["mkfifo", weights]).exited).toBe(0);
    const err = await convertModels([src], { outDir: tempDir("engines") }).catch((e) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect(err.file).toBe(weights);
    expect(err.message).toMatch(/model\.safetensors: is a FIFO, not a regular file: refused unopened/);
  });

  test("an oversized config.json is refused unread, naming it", async () => {
    const src = source();
    truncateSync(join(src.dir, "config.json"), 64 * 1024 * 1024 + 1); // sparse: nothing written
    const err = await convertModels([src], { outDir: tempDir("engines") }).catch((e) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect(err.message).toMatch(/config\.json: is 67108865 bytes, more than 67108864: refused unread/);
  });

  test("a device as tokenizer.json (a link to /dev/null, as a link to /dev/zero would read forever)", async () => {
    const src = source();
    const tokenizer = join(src.dir, "tokenizer.json");
    rmSync(tokenizer);
    symlinkSync("/dev/null", tokenizer);
    const err = await convertModels([src], { outDir: tempDir("engines") }).catch((e) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect(err.message).toMatch(/tokenizer\.json: is a character device, not a regular file/);
  });
});
