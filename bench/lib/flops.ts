/**
 * What one forward of a BERT-family encoder classifier (RoBERTa/XLM-R, BERT, DistilBERT, ELECTRA,
 * ModernBERT: the architectures convert/onnx/archs/ builds) costs: floating-point operations and the weight bytes it
 * reads. From a Hugging Face config.json, or from the weights engine.json lists (what is really served).
 * The roofline line of the bench report and the simulated GPU are built on these counts.
 */
import type { ModelRecord } from "../../lib/store/index.ts";
import { debertaShapeFromConfig, debertaShapeFromRecord, isDeberta } from "./flops-deberta.ts";

export interface EncoderShape {
  layers: number;
  hidden: number;
  intermediate: number;
  numLabels: number;
  /** Parameters of the weight matrices every token goes through, all layers (Q,K,V,O, FFN in/out), and ELECTRA's embeddings_project. */
  tokenMatrixParams: number;
  /** Parameters of the head's matrices, applied once per row (RoBERTa dense+out_proj, BERT pooler+classifier, DistilBERT pre_classifier+classifier). */
  rowMatrixParams: number;
  /** Bytes of the weights one forward reads from memory (FP32): every weight except the word-embedding table, of which only the rows used are read (counted as 0). */
  weightBytesRead: number;
  /**
   * DeBERTa's disentangled attention (flops-deberta.ts): each of `terms` (c2p, p2c) scores every token
   * against `rows` relative embeddings projected to `width`, in every layer.
   */
  relative?: { rows: number; terms: number; width: number };
}

const F32_BYTES = 4;

/** A positive integer from the first of `keys` the config has; the error names them all. */
function configInt(config: Record<string, unknown>, keys: string[], fallback?: number): number {
  const key = keys.find((k) => config[k] !== undefined && config[k] !== null);
  const v = key === undefined ? fallback : config[key];
  if (!Number.isSafeInteger(v) || (v as number) < 0)
    throw new Error(`config.json: ${keys.join(" or ")} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v as number;
}

/** As transformers reads them (convert/onnx/config.ts): id2label wins, else num_labels, default 2. */
function labelCount(config: Record<string, unknown>): number {
  const id2label = config.id2label as Record<string, unknown> | undefined;
  if (id2label && Object.keys(id2label).length > 0) return Object.keys(id2label).length;
  return configInt(config, ["num_labels"], 2);
}

const isDistilBert = (config: Record<string, unknown>) =>
  config.model_type === "distilbert" ||
  (Array.isArray(config.architectures) && config.architectures.some((a) => String(a).startsWith("DistilBert")));

const isModernBert = (config: Record<string, unknown>) =>
  config.model_type === "modernbert" ||
  (Array.isArray(config.architectures) && config.architectures.some((a) => String(a).startsWith("ModernBert")));

const isElectra = (config: Record<string, unknown>) =>
  config.model_type === "electra" ||
  (Array.isArray(config.architectures) && config.architectures.some((a) => String(a).startsWith("Electra")));

/**
 * The shape of the model a Hugging Face config.json describes (BERT's names or DistilBERT's: dim,
 * n_layers, hidden_dim; ModernBERT's own layout). The head is two matrices for all of them: hidden ×
 * hidden, then labels × hidden.
 */
export function shapeFromConfig(config: Record<string, unknown>): EncoderShape {
  if (isDeberta(config)) return debertaShapeFromConfig(config);
  if (isModernBert(config)) return modernBertShape(config);
  const distil = isDistilBert(config);
  const hidden = configInt(config, ["hidden_size", "dim"]);
  const layers = configInt(config, ["num_hidden_layers", "n_layers"]);
  const intermediate = configInt(config, ["intermediate_size", "hidden_dim"]);
  const numLabels = labelCount(config);
  const positions = configInt(config, ["max_position_embeddings"]);
  // DistilBERT has no token types; transformers' default for the others is 2.
  const tokenTypes = distil ? 0 : configInt(config, ["type_vocab_size"], 2);
  // ELECTRA's embeddings are embedding_size wide (ElectraConfig's default 128), projected up to the hidden size when narrower.
  const embedding = isElectra(config) ? configInt(config, ["embedding_size"], 128) : hidden;
  const projection = embedding === hidden ? 0 : embedding * hidden;

  const layerMatrices = 4 * hidden * hidden + 2 * hidden * intermediate;
  // Q, K, V, O and FFN-out biases (5 × hidden), FFN-in bias, two layer norms (weight and bias each).
  const layerVectors = 5 * hidden + intermediate + 4 * hidden;
  const tokenMatrixParams = layers * layerMatrices + projection;
  const rowMatrixParams = hidden * hidden + numLabels * hidden;
  const embeddingsRead = (positions + tokenTypes) * embedding + 2 * embedding + (projection > 0 ? hidden : 0);
  const params = embeddingsRead + tokenMatrixParams + layers * layerVectors + rowMatrixParams + hidden + numLabels;
  return {
    layers,
    hidden,
    intermediate,
    numLabels,
    tokenMatrixParams,
    rowMatrixParams,
    weightBytesRead: params * F32_BYTES,
  };
}

/**
 * ModernBERT: per layer Wqkv (3d²), Wo (d²), the GeGLU's Wi (d × 2ff: input and gate) and Wo (ff × d);
 * biases and norm biases only where the config says; norms before attention (not in layer 0) and MLP,
 * on the embeddings, after the last layer and in the head; the head's dense d², the classifier.
 */
function modernBertShape(config: Record<string, unknown>): EncoderShape {
  const hidden = configInt(config, ["hidden_size"]);
  const layers = configInt(config, ["num_hidden_layers"]);
  const intermediate = configInt(config, ["intermediate_size"]);
  const numLabels = labelCount(config);
  const flag = (key: string) => config[key] === true;
  const norm = flag("norm_bias") ? 2 * hidden : hidden;
  const layerMatrices = 4 * hidden * hidden + 3 * hidden * intermediate;
  const layerBiases = (flag("attention_bias") ? 4 * hidden : 0) + (flag("mlp_bias") ? 2 * intermediate + hidden : 0);
  const norms = (layers + Math.max(layers - 1, 0) + 3) * norm;
  const tokenMatrixParams = layers * layerMatrices;
  const rowMatrixParams = hidden * hidden + numLabels * hidden;
  const rowBiases = (flag("classifier_bias") ? hidden : 0) + numLabels;
  const params = tokenMatrixParams + layers * layerBiases + norms + rowMatrixParams + rowBiases;
  return {
    layers,
    hidden,
    intermediate,
    numLabels,
    tokenMatrixParams,
    rowMatrixParams,
    weightBytesRead: params * F32_BYTES,
  };
}

/** The word table: BERT's name, then ModernBERT's. */
const WORD_EMBEDDINGS = /(word_embeddings|tok_embeddings)\.weight$/;
/** Position and token-type tables: looked up, not multiplied. */
const EMBEDDINGS = /(^|\.)embeddings\./;
/** The encoder's layers, as every architecture names them (`….layer.3.attention…`, ModernBERT's `….layers.3.attn…`). */
const LAYER = /\.layers?\.(\d+)\./;
/** ELECTRA's projection of its narrower embeddings: a matrix every token goes through. */
const EMBEDDINGS_PROJECT = /embeddings_project\.weight$/;
/** The feed-forward's first matrix, [intermediate, hidden]: BERT/RoBERTa's name, DistilBERT's, ModernBERT's ([2 × intermediate, hidden]). */
const FFN_IN = /\.(intermediate\.dense|ffn\.lin1|mlp\.Wi)\.weight$/;
const GEGLU_IN = /\.mlp\.Wi\.weight$/;

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The shape of a converted model, from the weights engine.json lists (names and shapes of every
 * checkpoint tensor the graph uses). A model served as a given ONNX file lists none: it has no shape here.
 */
export function shapeFromRecord(record: Pick<ModelRecord, "key" | "weights" | "weightProof" | "labels">): EncoderShape {
  if (record.weights.some((w) => w.name.startsWith("deberta.")))
    return debertaShapeFromRecord(record.weights, record.labels.length);
  const words = record.weights.find((w) => WORD_EMBEDDINGS.test(w.name));
  const ffnIn = record.weights.find((w) => FFN_IN.test(w.name));
  if (!words || !ffnIn)
    throw new Error(
      `${record.key}: engine.json lists no encoder weights (${record.weightProof}), so its FLOPs are unknown; ` +
        "count them from its config.json (shapeFromConfig)",
    );
  const layerIndices = new Set<string>();
  let tokenMatrixParams = 0;
  let rowMatrixParams = 0;
  let weightBytesRead = 0;
  for (const w of record.weights) {
    const n = elements(w.shape);
    if (w !== words) weightBytesRead += n * F32_BYTES;
    const layer = LAYER.exec(w.name);
    if (layer) layerIndices.add(layer[1]);
    if (w.shape.length !== 2 || EMBEDDINGS.test(w.name)) continue;
    if (layer || EMBEDDINGS_PROJECT.test(w.name)) tokenMatrixParams += n;
    else rowMatrixParams += n;
  }
  return {
    layers: layerIndices.size,
    // The feed-forward's input width: the hidden size even where the embeddings are narrower (ELECTRA).
    hidden: ffnIn.shape[1],
    intermediate: GEGLU_IN.test(ffnIn.name) ? ffnIn.shape[0] / 2 : ffnIn.shape[0],
    numLabels: record.labels.length,
    tokenMatrixParams,
    rowMatrixParams,
    weightBytesRead,
  };
}

/**
 * Floating-point operations of one forward over `rows` rows of `length` tokens: 2 per parameter of
 * every matrix a token goes through (a multiply and an add), 2 per head parameter per row, and
 * attention's two products per layer (QKᵀ and AV: 2 × length² × hidden each; ModernBERT's local
 * layers too, as its graph computes them: full scores under a window mask). Biases, layer norms,
 * GELU, softmax and the embedding lookups are left out: under 1% of the total for base-size models.
 * DeBERTa adds, per layer and position term, the relative embeddings' projection (2 × rows × hidden ×
 * width, once per forward whatever the batch) and each token's scores against them (2 × length ×
 * rows × width per row).
 */
export function forwardFlops(shape: EncoderShape, rows: number, length: number): number {
  const tokens = rows * length;
  const attention = 4 * length * length * shape.hidden * shape.layers * rows;
  const rel = shape.relative;
  const relative = rel ? rel.terms * shape.layers * 2 * rel.rows * rel.width * (shape.hidden + tokens) : 0;
  return 2 * shape.tokenMatrixParams * tokens + 2 * shape.rowMatrixParams * rows + attention + relative;
}

/**
 * Mean FLOPs of one text through one model over texts of these token counts, each truncated at the
 * model's `maxLength` as the service truncates it (the mean of the forwards, not the forward of the
 * mean: attention grows with the square of the length).
 */
export function meanForwardFlops(shape: EncoderShape, lengths: number[], maxLength: number): number {
  if (lengths.length === 0) return Number.NaN;
  const total = lengths.reduce((sum, n) => sum + forwardFlops(shape, 1, Math.min(n, maxLength)), 0);
  return total / lengths.length;
}

/**
 * Floating-point operations of one forward over a packed batch, as convert/onnx/rows.ts builds it: the
 * rows' tokens concatenated on one axis, no padding. Every matrix a token goes through runs on the real
 * tokens only, the head once per row; attention gathers q, k and v into [rows, longest row] and runs
 * there, so it costs what a padded batch's attention costs (rows × longest², not the packed length²).
 */
export function packedForwardFlops(shape: EncoderShape, lengths: readonly number[]): number {
  if (lengths.length === 0) return 0;
  const rows = lengths.length;
  const total = lengths.reduce((n, l) => n + l, 0);
  const longest = Math.max(...lengths);
  const padded = forwardFlops(shape, rows, longest);
  // The padded forward less what its padding costs in the token matrices (and the relative term's per-token part).
  const rel = shape.relative;
  const relativePerToken = rel ? rel.terms * shape.layers * 2 * rel.rows * rel.width : 0;
  return padded - (2 * shape.tokenMatrixParams + relativePerToken) * (rows * longest - total);
}
