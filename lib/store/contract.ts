/**
 * The engines/ contract: what `bun run convert` writes and the service (and the benchmarks) read.
 * Both sides agree on these types and nothing else; no other file parses index.json or engine.json.
 *
 *   engines/index.json               StoreIndex: the models in answer order, the tokenizer families
 *   engines/<key>/engine.json        ModelRecord: source, labels, ONNX files, weight proof, TensorRT engine
 *   engines/<key>/model.onnx(.data)  the graph and its weights (external data, byte-identical)
 *   engines/<key>/model.packed.onnx  the same weights as a packed graph (rows without padding), when built
 *   engines/tokenizers/<family>/     tokenizer.json and its companions
 */

/** Bump when the graph or engine.json changes meaning: outputs of an older converter are redone. */
export const CONVERTER_VERSION = "4";

export const INDEX_FILE = "index.json";
/** The store's folder of tokenizer families: no model may take its name. */
export const TOKENIZERS_DIR = "tokenizers";

/** A response key: also the model's folder in the store, so a plain name, and not the tokenizers folder. */
const MODEL_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** Why `key` cannot be a model's key, or null when it can. */
export function modelKeyProblem(key: string): string | null {
  if (!MODEL_KEY.test(key)) return `"${key.slice(0, 80)}" is not a key: 1 to 64 of A-Z, a-z, 0-9, _ and -`;
  if (key === TOKENIZERS_DIR) return `"${key}" is reserved: the store keeps its tokenizer families under that name`;
  return null;
}
export const RECORD_FILE = "engine.json";

export type Activation = "softmax" | "sigmoid";

/** Where a model's checkpoint came from. */
export interface ModelOrigin {
  hubId?: string;
  revision?: string;
  commit?: string;
  local?: string;
}

/** One weight tensor: its hash in the checkpoint and as stored in the ONNX file (equal, or convert fails). */
export interface WeightProof {
  name: string;
  shape: number[];
  dtype: string;
  sha256: string;
  onnxSha256: string;
}

/** One TensorRT optimization profile: every input shape [batch, sequence] from min to max is accepted. */
export interface ShapeProfile {
  minBatch: number;
  optBatch: number;
  maxBatch: number;
  minSequence: number;
  optSequence: number;
  maxSequence: number;
}

/** What engine.json records about a model's TensorRT engine (a plan built by trtexec for one GPU). */
export interface TrtEngineRecord {
  engine: string;
  contextModel: string;
  /** Of the ONNX model the engine was built from: a reconverted model makes the engine stale. */
  onnxSha256: string;
  tensorrtVersion: string;
  gpu: string;
  computeCapability: string;
  profile: ShapeProfile;
  precision: "fp32";
  image: string | null;
  command: string[];
  engineSha256: string;
  engineBytes: number;
  buildSeconds: number;
  builtAt: string;
}

/** engine.json: everything the service needs to serve one model, and the proof of its weights. */
export interface ModelRecord {
  key: string;
  converterVersion: string;
  /** Hash of what the conversion read; an unchanged hash means the outputs are kept. */
  inputHash: string;
  source: ModelOrigin;
  architecture: string;
  /** The labels the service answers with (published labels with the manifest's fixes). */
  labels: string[];
  publishedLabels: string[];
  /**
   * How scores are computed, as the Hugging Face text-classification pipeline does: sigmoid per label
   * when problem_type is multi_label_classification or there is one label, softmax otherwise.
   */
  activation: Activation;
  /** The longest input: the position table's (less the RoBERTa offset), within the tokenizer's model_max_length. */
  maxLength: number;
  /** The template's special ids (see lib/tokenizer/template.ts): warm-up and smoke runs use them. */
  specialTokens: { pad: number; prefix: number[]; suffix: number[] };
  tokenizer: {
    family: string;
    /** The family's folder, relative to the model's. */
    dir: string;
    /** sha256 of the tokenizer definition (normalizer, pre-tokenizer, model, post-processor, added tokens). */
    definitionSha256: string;
    /** "own tokenizer.json", or which file stands in for a model that ships only slow files, and why. */
    source: string;
  };
  /** sha256 of the checkpoint files read. */
  files: Record<string, string>;
  onnx: {
    model: string;
    /** The external weights file; null for a model brought as one self-contained file. */
    data: string | null;
    opset: number;
    modelSha256: string;
    /** The graph's inputs, fed exactly: input_ids, attention_mask, and token_type_ids when it has them. */
    inputs: string[];
    /** The element type of every input. */
    inputType: "int64" | "int32";
    outputs: string[];
    /**
     * The packed graph beside `model`, reading the same `data` file: the batch's rows concatenated
     * without padding (its inputs and output: convert/onnx/rows.ts). Built for every architecture
     * convert builds; absent for a model served as given.
     */
    packed?: PackedGraph;
  };
  parameters: { total: number; nonZero: number; bytes: number };
  /** "byte-identical": every weight hashed in the checkpoint and in the ONNX file (`weights`); an ONNX file brought as it is has no checkpoint to compare. */
  weightProof: "byte-identical" | "not applicable: served as given";
  /**
   * Why the model cannot take text pairs, when it cannot: a graph exported elsewhere without a
   * token_type_ids input for a model whose own code reads token types. Absent: it takes them.
   */
  pairsRefused?: string;
  weights: WeightProof[];
  /** Written by `convert --trt` on a GPU host. */
  trt?: TrtEngineRecord;
  convertedAt: string;
}

/** engine.json's record of a model's packed graph. */
export interface PackedGraph {
  model: string;
  modelSha256: string;
  /** What the graph takes, all int64: input_ids, row_ids, row_starts, and token_type_ids or positions when it reads them. */
  inputs: string[];
}

/** A tokenizer family: models with one tokenizer definition, tokenized once per text. */
export interface FamilyEntry {
  id: string;
  members: string[];
  /** Relative to the store. */
  dir: string;
  /** Which model (or base model) the family's tokenizer.json came from. */
  source: string;
}

/** index.json. */
export interface StoreIndexModel {
  key: string;
  dir: string;
  /**
   * Whether the model answers a /process that names no models (the manifest's `defaultFanOut`);
   * false serves it only where asked for: `?models=`, /zero-shot, /rerank. Absent: true.
   */
  defaultFanOut?: boolean;
}

export interface StoreIndex {
  converterVersion: string;
  /** In answer order; `dir` is relative to the store. */
  models: StoreIndexModel[];
  families: FamilyEntry[];
}
