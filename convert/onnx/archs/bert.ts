/**
 * BertForSequenceClassification: positions 0..n-1, token type embeddings (the caller's types; the
 * service sends type 0 for one text), post-LN encoder, pooler (dense → tanh on [CLS]) then
 * `classifier`.
 */
import type { ClassifierConfig } from "../config.ts";
import { startClassifierGraph } from "../layers.ts";
import type { Architecture } from "./types.ts";

export const bert: Architecture = {
  names: ["BertForSequenceClassification"],
  modelTypes: ["bert"],

  parseConfig(r, architecture) {
    const c = r.bertNamed(architecture, 0);
    return { ...c, maxLength: c.maxPositionEmbeddings, inputs: ["input_ids", "attention_mask", "token_type_ids"] };
  },

  build(c: ClassifierConfig, ckpt, layout = "padded") {
    const { g, weights, L, H, ids, rows } = startClassifierGraph(c, ckpt, layout);
    const tokenTypes = rows.tokenTypes();

    const E = weights.scope("bert.embeddings");
    const types = weights.rows("bert.embeddings.token_type_embeddings.weight") ?? 2;
    const words = g.op("Gather", [E.weight("word_embeddings.weight", [c.vocabSize, H]), ids]);
    const pos = g.op("Gather", [
      E.weight("position_embeddings.weight", [c.maxPositionEmbeddings, H]),
      rows.positions(),
    ]);
    const type = g.op("Gather", [E.weight("token_type_embeddings.weight", [types, H]), tokenTypes]);
    const emb = L.layerNorm(g.op("Add", [g.op("Add", [words, pos]), type]), E.scope("LayerNorm"));

    const flat = g.op("Reshape", [emb, g.constInt64([-1, H])]);
    const x = L.bertEncoder(flat, weights.scope("bert.encoder.layer"), c.layers, rows.attention());

    const pooled = g.op("Tanh", [L.linear(rows.firstTokens(x, H), weights.scope("bert.pooler.dense"), H, H)]);
    L.logits(pooled, weights.scope("classifier"), c.labels.length);
    return { graph: g, used: weights.used };
  },
};
