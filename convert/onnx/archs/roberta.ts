/**
 * RobertaForSequenceClassification, XLMRobertaForSequenceClassification and
 * CamembertForSequenceClassification: one graph. RoBERTa position ids (counted from the padding
 * index, skipping pads), token type 0, post-LN encoder, head on <s>: dense → tanh → out_proj.
 */
import type { ClassifierConfig } from "../config.ts";
import { ElemType } from "../graph.ts";
import { startClassifierGraph } from "../layers.ts";
import type { Architecture } from "./types.ts";

export const roberta: Architecture = {
  names: [
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "CamembertForSequenceClassification",
  ],
  modelTypes: ["roberta", "xlm-roberta", "camembert"],

  parseConfig(r, architecture) {
    const c = r.bertNamed(architecture, 1);
    // Positions start after the padding index.
    return { ...c, maxLength: c.maxPositionEmbeddings - c.padTokenId - 1, inputs: ["input_ids", "attention_mask"] };
  },

  build(c: ClassifierConfig, ckpt, layout = "padded") {
    const { g, weights, L, H, ids, rows } = startClassifierGraph(c, ckpt, layout);

    // position = cumsum(ids != pad) * (ids != pad) + pad within each row, as create_position_ids_from_input_ids
    // (a pad id inside a text, e.g. a literal "<pad>", keeps position pad and is not counted, packed or not).
    const E = weights.scope("roberta.embeddings");
    const pad = g.constInt64([c.padTokenId], true);
    const notPad = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, pad])])], { to: ElemType.INT64 });
    const positions = g.op("Add", [g.op("Mul", [rows.cumSumWithinRows(notPad), notPad]), pad]);
    const words = g.op("Gather", [E.weight("word_embeddings.weight", [c.vocabSize, H]), ids]);
    const pos = g.op("Gather", [E.weight("position_embeddings.weight", [c.maxPositionEmbeddings, H]), positions]);
    const types = weights.rows("roberta.embeddings.token_type_embeddings.weight") ?? 1;
    const type0 = g.op("Gather", [E.weight("token_type_embeddings.weight", [types, H]), g.constInt64([0], true)]);
    const emb = L.layerNorm(g.op("Add", [g.op("Add", [words, pos]), type0]), E.scope("LayerNorm"));

    const flat = g.op("Reshape", [emb, g.constInt64([-1, H])]);
    const encoder = weights.scope("roberta.encoder.layer");
    const x = L.bertEncoder(flat, encoder, c.layers, rows.attention());

    const head = weights.scope("classifier");
    const dense = g.op("Tanh", [L.linear(rows.firstTokens(x, H), head.scope("dense"), H, H)]);
    L.logits(dense, head.scope("out_proj"), c.labels.length);
    return { graph: g, used: weights.used };
  },
};
