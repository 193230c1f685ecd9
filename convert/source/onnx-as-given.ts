/**
 * An ONNX model brought as it is (exported elsewhere, e.g. by optimum or torch.onnx): the escape
 * hatch for every architecture convert does not build. Its graph is checked against what the
 * service feeds and reads and against config.json, its files are copied byte for byte and hashed.
 * There is no checkpoint to compare its weights with: engine.json says the proof does not apply.
 */
import { copyFileSync, existsSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import { onnx } from "onnx-proto";
import { KNOWN_INPUTS } from "../../lib/onnx/feeds.ts";
import type { ModelRecord } from "../../lib/store/index.ts";
import { ConvertError } from "../errors.ts";
import { countNonZeroF32, type GraphSource } from "./graph-source.ts";
import { sha256File } from "../hash.ts";
import { roberta } from "../onnx/archs/roberta.ts";
import { ConfigReader, type RawConfig } from "../onnx/config.ts";
import { readModel } from "../onnx/model-file.ts";

export const GIVEN_MODEL_FILE = "model.onnx";
/** The external data files exporters write beside model.onnx: optimum's, and torch.onnx's (dynamo). */
export const GIVEN_DATA_FILES = ["model.onnx_data", "model.onnx.data"] as const;

/**
 * model_types whose positions start after the padding index (transformers'
 * create_position_ids_from_input_ids): their position table holds pad + 1 rows more than inputs.
 */
const POSITIONS_AFTER_PAD = [
  ...roberta.modelTypes,
  "xlm-roberta-xl",
  "roberta-prelayernorm",
  "data2vec-text",
  "longformer",
  "mpnet",
  "ibert",
  "luke",
  "xmod",
];

/** What the graph declares, checked: how to feed it, what to read, which file holds its weights. */
export interface GivenGraph {
  /** In the graph's order. */
  inputs: string[];
  inputType: "int64" | "int32";
  output: string;
  /** The external data file beside model.onnx, or null when the model is one file. */
  data: string | null;
  opset: number;
}

/** config.json of a model brought as ONNX: labels and scoring as for a built model, any architecture. */
export function readGivenConfig(file: string, raw: RawConfig): GraphSource["config"] {
  const r = new ConfigReader(file, raw);
  const architecture = (Array.isArray(raw.architectures) ? raw.architectures[0] : undefined) ?? raw.model_type;
  if (typeof architecture !== "string" || architecture === "")
    r.fail("names no architecture (architectures or model_type)");
  const labels = r.labels();
  let maxLength = Infinity;
  if (raw.max_position_embeddings !== undefined) {
    maxLength = r.int("max_position_embeddings");
    if (POSITIONS_AFTER_PAD.includes(raw.model_type as string) || roberta.names.includes(architecture))
      maxLength -= r.int("pad_token_id", 1) + 1;
  }
  // The graph's embedding rows as config.json states them (every exporter writes vocab_size); not read off the graph.
  const vocabSize = raw.vocab_size === undefined ? null : r.int("vocab_size");
  return { architecture, labels, activation: r.activation(labels.length), maxLength, vocabSize };
}

const dimsOf = (v: onnx.IValueInfoProto) => (v.type?.tensorType?.shape ? (v.type.tensorType.shape.dim ?? []) : null);
const isFixed = (d: onnx.TensorShapeProto.IDimension) => (d as onnx.TensorShapeProto.Dimension).value === "dimValue";
const shapeText = (dims: onnx.TensorShapeProto.IDimension[]) =>
  `[${dims.map((d) => (isFixed(d) ? Number(d.dimValue) : d.dimParam || "?")).join(", ")}]`;

/**
 * Checks a graph against what the worker feeds (KNOWN_INPUTS, [batch, sequence], one integer type)
 * and reads (one float output [batch, labels]); every refusal names the file.
 */
export function checkGivenGraph(file: string, model: onnx.IModelProto, numLabels: number): GivenGraph {
  const fail = (why: string): never => {
    throw new ConvertError(file, why);
  };
  const graph = model.graph ?? fail("holds no graph");
  // Before IR version 4 initializers were listed among the inputs too; they are not fed.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const declared = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const inputs = declared.map((i) => i.name ?? "");
  const unknown = inputs.filter((n) => !(KNOWN_INPUTS as readonly string[]).includes(n));
  if (unknown.length > 0) fail(`takes ${unknown.join(", ")}: the service feeds only ${KNOWN_INPUTS.join(", ")}`);
  for (const needed of ["input_ids", "attention_mask"]) if (!inputs.includes(needed)) fail(`takes no ${needed}`);

  const T = onnx.TensorProto.DataType;
  const typeName = new Map<number, "int64" | "int32">([
    [T.INT64, "int64"],
    [T.INT32, "int32"],
  ]);
  const types = new Set<"int64" | "int32">();
  for (const i of declared) {
    const elemType = i.type?.tensorType?.elemType ?? T.UNDEFINED;
    const type = typeName.get(elemType) ?? fail(`input ${i.name} is ${T[elemType]}, not int64 or int32`);
    types.add(type);
    const dims = dimsOf(i);
    if (dims && (dims.length !== 2 || dims.some(isFixed)))
      fail(`input ${i.name} is ${shapeText(dims)}, not [batch, sequence]: export it with dynamic axes`);
  }
  if (types.size > 1) fail(`its inputs mix ${[...types].join(" and ")}: they must all be one type`);

  const outputs = graph.output ?? [];
  if (outputs.length !== 1)
    fail(`has ${outputs.length} outputs (${outputs.map((o) => o.name).join(", ")}): expected only the logits`);
  const [output] = outputs;
  const outType = output.type?.tensorType?.elemType ?? T.UNDEFINED;
  if (outType !== T.FLOAT) fail(`output ${output.name} is ${T[outType]}, not float`);
  const dims = dimsOf(output);
  const labelsDim = dims?.length === 2 && isFixed(dims[1]) ? Number(dims[1].dimValue) : null;
  if (dims?.length !== 2 || isFixed(dims[0]) || labelsDim !== numLabels)
    fail(
      `output ${output.name} is ${dims ? shapeText(dims) : "of unknown shape"}; config.json's ${numLabels} labels ` +
        `need [batch, ${numLabels}]`,
    );

  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx")?.version;
  if (opset === undefined || opset === null) fail("imports no ai.onnx opset");
  return {
    inputs,
    inputType: [...types][0],
    output: output.name ?? "",
    data: externalDataFile(file, graph),
    opset: Number(opset),
  };
}

/** The one file beside model.onnx that its external tensors point into (initializers, node attributes, subgraphs). */
function externalDataFile(file: string, graph: onnx.IGraphProto): string | null {
  const locations = new Set<string>();
  const visit = (g: onnx.IGraphProto) => {
    const tensor = (t: onnx.ITensorProto | null | undefined) => {
      if (t?.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
        locations.add(t.externalData?.find((e) => e.key === "location")?.value ?? "");
    };
    for (const t of g.initializer ?? []) tensor(t);
    for (const s of g.sparseInitializer ?? []) [s.values, s.indices].forEach(tensor);
    for (const n of g.node ?? [])
      for (const a of n.attribute ?? []) {
        tensor(a.t);
        a.tensors?.forEach(tensor);
        if (a.g) visit(a.g);
        a.graphs?.forEach(visit);
      }
  };
  visit(graph);
  if (locations.size === 0) return null;
  if (locations.size > 1)
    throw new ConvertError(
      file,
      `its weights are spread over ${locations.size} external files (${[...locations].slice(0, 3).join(", ")}, ...): ` +
        `save them as one, e.g. onnx.save_model(model, path, save_as_external_data=True, ` +
        `all_tensors_to_one_file=True, location="model.onnx_data")`,
    );
  const [location] = locations;
  // Copied beside model.onnx as it is named: a path out of (or down into) the folder is not followed.
  if (isAbsolute(location) || basename(location) !== location || location.includes("\\") || /^\.*$/.test(location))
    throw new ConvertError(file, `external data ${JSON.stringify(location)} is not a file beside the model`);
  return location;
}

/**
 * A model whose own code reads token types (config.json's type_vocab_size over 1: BERT, ELECTRA,
 * ALBERT) exported without token_type_ids cannot take pairs: the pair template's type 1 would be lost,
 * and its answer would differ from the pipeline's. RoBERTa (1), DistilBERT and DeBERTa-v3 (none) lose nothing.
 */
function pairsRefused(inputs: string[], typeVocabSize: number): { pairsRefused?: string } {
  if (inputs.includes("token_type_ids") || typeVocabSize <= 1) return {};
  return {
    pairsRefused: `its ONNX graph takes no token_type_ids, and config.json's type_vocab_size ${typeVocabSize} says the model reads them: export it with token_type_ids to serve pairs`,
  };
}

/** A folder with config.json, model.onnx (and its external data) and the tokenizer, served as it is. */
export function givenOnnxModel(dir: string, raw: RawConfig): GraphSource {
  const configFile = join(dir, "config.json");
  const config = readGivenConfig(configFile, raw);
  const typeVocabSize = new ConfigReader(configFile, raw).int("type_vocab_size", 0);
  const modelFile = join(dir, GIVEN_MODEL_FILE);
  let checked: GivenGraph | undefined;
  let modelSha256: string | undefined;
  // Read (and checked) once, before anything is written; the decoded graph is not kept.
  const graph = () => {
    if (!existsSync(modelFile))
      throw new ConvertError(dir, `no ${GIVEN_MODEL_FILE}: an ONNX model served as it is sits beside config.json`);
    checked ??= checkGivenGraph(modelFile, readModel(modelFile).model, config.labels.length);
    return checked;
  };
  return {
    config,
    files() {
      const { data } = graph();
      if (data && !existsSync(join(dir, data))) throw new ConvertError(modelFile, `external data ${data} is missing`);
      const files = Object.fromEntries(
        ["config.json", GIVEN_MODEL_FILE, ...(data ? [data] : [])].map((n) => [n, sha256File(join(dir, n))]),
      );
      modelSha256 = files[GIVEN_MODEL_FILE];
      return files;
    },
    async write(tmp, afterWrite) {
      const g = graph();
      for (const n of [GIVEN_MODEL_FILE, ...(g.data ? [g.data] : [])]) copyFileSync(join(dir, n), join(tmp, n));
      afterWrite?.(tmp);
      const written = join(tmp, GIVEN_MODEL_FILE);
      // The hash engine.json records is the served copy's, and it must be the file that was checked.
      const copySha256 = sha256File(written);
      if (copySha256 !== (modelSha256 ?? sha256File(modelFile)))
        throw new ConvertError(written, `differs from ${modelFile}, which it was copied from`);
      return {
        onnx: {
          model: GIVEN_MODEL_FILE,
          data: g.data,
          opset: g.opset,
          modelSha256: copySha256,
          inputs: g.inputs,
          inputType: g.inputType,
          outputs: [g.output],
        },
        parameters: countFloatParameters(written),
        weightProof: "not applicable: served as given",
        weights: [],
        ...pairsRefused(g.inputs, typeVocabSize),
      };
    },
  };
}

/** The FP32 initializers as stored (raw, external, or as float_data): their values, the non-zero ones, their bytes. */
function countFloatParameters(modelPath: string): ModelRecord["parameters"] {
  const { model, initializers } = readModel(modelPath);
  let total = 0;
  let nonZero = 0;
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
    total += (t.dims ?? []).reduce((n: number, d) => n * Number(d), 1);
    const initializer = initializers.get(t.name ?? "");
    if (!initializer) throw new Error(`initializer ${t.name}: readModel read the graph without it`);
    const stored = initializer.bytes();
    nonZero += stored.byteLength > 0 ? countNonZeroF32(stored) : (t.floatData ?? []).filter((v) => v !== 0).length;
  }
  return { total, nonZero, bytes: total * 4 };
}
