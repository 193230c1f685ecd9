/**
 * ElectraForSequenceClassification: BERT's embeddings at `embedding_size` (word, positions 0..n-1,
 * the caller's token types, LayerNorm at that width), `embeddings_project` up to the hidden size when
 * the two differ, BERT's post-LN encoder, then the head on [CLS]: dense → GELU → out_proj. The head's
 * GELU is fixed in the modeling code (ElectraClassificationHead), whatever the config's activations say.
 */
import type { ClassifierConfig } from "../config.ts";
import { startClassifierGraph } from "../layers.ts";
import type { Architecture } from "./types.ts";

interface ElectraConfig extends ClassifierConfig {
  /** The embeddings' width; ELECTRA-small's is 128 under a hidden size of 256. */
  embeddingSize: number;
}

/** ElectraConfig's default when config.json does not name it. */
const DEFAULT_EMBEDDING_SIZE = 128;

export const electra: Architecture = {
  names: ["ElectraForSequenceClassification"],
  modelTypes: ["electra"],

  parseConfig(r, architecture): ElectraConfig {
    const c = r.bertNamed(architecture, 0);
    return {
      ...c,
      embeddingSize: r.int("embedding_size", DEFAULT_EMBEDDING_SIZE),
      maxLength: c.maxPositionEmbeddings,
      inputs: ["input_ids", "attention_mask", "token_type_ids"],
    };
  },

  build(c: ElectraConfig, ckpt, layout = "padded") {
    const { g, weights, L, H, ids, rows } = startClassifierGraph(c, ckpt, layout);
    const tokenTypes = rows.tokenTypes();
    const E = c.embeddingSize;

    const emb = weights.scope("electra.embeddings");
    const types = weights.rows("electra.embeddings.token_type_embeddings.weight") ?? 2;
    const words = g.op("Gather", [emb.weight("word_embeddings.weight", [c.vocabSize, E]), ids]);
    const pos = g.op("Gather", [
      emb.weight("position_embeddings.weight", [c.maxPositionEmbeddings, E]),
      rows.positions(),
    ]);
    const type = g.op("Gather", [emb.weight("token_type_embeddings.weight", [types, E]), tokenTypes]);
    const summed = g.op("Add", [g.op("Add", [words, pos]), type]);
    const normed = L.layerNorm(summed, emb.scope("LayerNorm"), c.layerNormEps, E);

    let flat = g.op("Reshape", [normed, g.constInt64([-1, E])]);
    if (E !== H) flat = L.linear(flat, weights.scope("electra.embeddings_project"), E, H);
    const encoder = weights.scope("electra.encoder.layer");
    const x = L.bertEncoder(flat, encoder, c.layers, rows.attention());

    const head = weights.scope("classifier");
    const dense = L.gelu(L.linear(rows.firstTokens(x, H), head.scope("dense"), H, H));
    L.logits(dense, head.scope("out_proj"), c.labels.length);
    return { graph: g, used: weights.used };
  },
};
