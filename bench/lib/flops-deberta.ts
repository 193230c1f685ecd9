/**
 * DeBERTa-v2/v3's shape for the FLOP count (flops.ts): besides BERT's matrices, every layer scores
 * each token against the 2 × span relative embeddings once per position term (c2p: queries against
 * projected position keys; p2c: keys against projected position queries), after projecting those
 * embeddings through the layer's key (c2p) and query (p2c) matrices, once per forward.
 */
import { ConfigReader } from "../../convert/onnx/config.ts";
import { parseDebertaConfig } from "../../convert/onnx/archs/deberta-v2.ts";
import type { WeightProof } from "../../lib/store/index.ts";
import type { EncoderShape } from "./flops.ts";

const F32_BYTES = 4;

export const isDeberta = (config: Record<string, unknown>) =>
  config.model_type === "deberta-v2" ||
  (Array.isArray(config.architectures) && config.architectures.some((a) => String(a).startsWith("DebertaV2")));

/** The shape from config.json, read as the converter reads it (pos_att_type, head size, conv, embed_proj). */
export function debertaShapeFromConfig(config: Record<string, unknown>): EncoderShape {
  const c = parseDebertaConfig(new ConfigReader("config.json", config), "DebertaV2ForSequenceClassification");
  const { hiddenSize: H, intermediateSize: I, embeddingSize: E, layers } = c;
  const AH = c.heads * c.headSize;
  const n = c.labels.length;
  const terms = c.relative ? Number(c.c2p) + Number(c.p2c) : 0;
  const conv = c.conv ? H * (H / c.conv.groups) * c.conv.kernel : 0;
  const tokenMatrixParams = layers * (4 * H * AH + 2 * H * I) + conv + (E !== H ? H * E : 0);
  const rowMatrixParams = H * H + n * H;
  // Q, K, V biases; O and FFN-out biases, FFN-in bias, two layer norms.
  const layerVectors = 3 * AH + 2 * H + I + 4 * H;
  // Without share_att_key each term has its own projection (pos_key_proj, pos_query_proj).
  const positionProjections = c.relative && !c.shareAttKey ? layers * terms * (H * AH + AH) : 0;
  const relative = c.relative ? 2 * c.relative.span * H + (c.relative.normalized ? 2 * H : 0) : 0;
  // Position and token-type tables, the embeddings' layer norm, the conv's bias and layer norm.
  const tablesAndNorms =
    (c.positionBiasedInput ? c.maxPositionEmbeddings * E : 0) + c.typeVocabSize * E + 2 * H + (c.conv ? 3 * H : 0);
  const params =
    tablesAndNorms +
    tokenMatrixParams +
    layers * layerVectors +
    positionProjections +
    relative +
    rowMatrixParams +
    H +
    n;
  return {
    layers,
    hidden: H,
    intermediate: I,
    numLabels: n,
    tokenMatrixParams,
    rowMatrixParams,
    weightBytesRead: params * F32_BYTES,
    ...(c.relative && terms > 0 && { relative: { rows: 2 * c.relative.span, terms, width: AH } }),
  };
}

const LAYER = /\.layer\.(\d+)\./;
const POSITION_PROJECTION = /\.attention\.self\.pos_(key|query)_proj\.weight$/;

/**
 * The shape from the weights engine.json lists. engine.json does not keep pos_att_type: a model
 * whose position terms share the attention's keys (share_att_key, no pos_*_proj weights) is counted
 * with both, as every published DeBERTa-v2/v3 configuration has them.
 */
export function debertaShapeFromRecord(weights: WeightProof[], numLabels: number): EncoderShape {
  const find = (suffix: string) => weights.find((w) => w.name.endsWith(suffix));
  const words = find("embeddings.word_embeddings.weight");
  const ffnIn = find(".layer.0.intermediate.dense.weight");
  const query = find(".layer.0.attention.self.query_proj.weight");
  if (!words || !ffnIn || !query) throw new Error("engine.json lists no DeBERTa encoder weights");
  const layerIndices = new Set<string>();
  let tokenMatrixParams = 0;
  let rowMatrixParams = 0;
  let weightBytesRead = 0;
  for (const w of weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w !== words) weightBytesRead += n * F32_BYTES;
    const layer = LAYER.exec(w.name);
    if (layer) layerIndices.add(layer[1]);
    const tokenMatrix =
      (layer && w.shape.length === 2 && !POSITION_PROJECTION.test(w.name)) ||
      w.name.endsWith(".encoder.conv.conv.weight") ||
      w.name.endsWith(".embeddings.embed_proj.weight");
    if (tokenMatrix) tokenMatrixParams += n;
    else if (!layer && w.shape.length === 2 && !w.name.includes("embeddings")) rowMatrixParams += n;
  }
  const rel = find(".encoder.rel_embeddings.weight");
  const ownTerms = new Set(
    weights.filter((w) => w.name.includes(".layer.0.") && POSITION_PROJECTION.test(w.name)).map((w) => w.name),
  ).size;
  return {
    layers: layerIndices.size,
    hidden: ffnIn.shape[1],
    intermediate: ffnIn.shape[0],
    numLabels,
    tokenMatrixParams,
    rowMatrixParams,
    weightBytesRead,
    ...(rel && { relative: { rows: rel.shape[0], terms: ownTerms || 2, width: query.shape[0] } }),
  };
}
