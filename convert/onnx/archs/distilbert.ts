/**
 * DistilBertForSequenceClassification: config names dim/n_heads/n_layers/hidden_dim, positions
 * 0..n-1, no token types, layer norms at eps 1e-12 whatever the config says (as transformers builds
 * them), post-LN layers, then pre_classifier → ReLU → classifier on [CLS].
 */
import type { ClassifierConfig } from "../config.ts";
import { startClassifierGraph } from "../layers.ts";
import type { Architecture } from "./types.ts";

/** DistilBERT's nn.LayerNorm(dim, eps=1e-12): fixed in the modeling code, not read from the config. */
const DISTILBERT_EPS = 1e-12;

export const distilbert: Architecture = {
  names: ["DistilBertForSequenceClassification"],
  modelTypes: ["distilbert"],

  parseConfig(r, architecture) {
    r.gelu("activation");
    const hiddenSize = r.int("dim");
    const labels = r.labels();
    const maxPositionEmbeddings = r.int("max_position_embeddings");
    return {
      architecture,
      vocabSize: r.int("vocab_size"),
      hiddenSize,
      layers: r.int("n_layers"),
      heads: r.heads(hiddenSize, "n_heads"),
      intermediateSize: r.int("hidden_dim"),
      layerNormEps: DISTILBERT_EPS,
      maxPositionEmbeddings,
      padTokenId: r.int("pad_token_id", 0),
      labels,
      activation: r.activation(labels.length),
      maxLength: maxPositionEmbeddings,
      inputs: ["input_ids", "attention_mask"],
    };
  },

  build(c: ClassifierConfig, ckpt, layout = "padded") {
    const { g, weights, L, H, ids, rows } = startClassifierGraph(c, ckpt, layout);

    const E = weights.scope("distilbert.embeddings");
    const words = g.op("Gather", [E.weight("word_embeddings.weight", [c.vocabSize, H]), ids]);
    const pos = g.op("Gather", [
      E.weight("position_embeddings.weight", [c.maxPositionEmbeddings, H]),
      rows.positions(),
    ]);
    const emb = L.layerNorm(g.op("Add", [words, pos]), E.scope("LayerNorm"));

    const attentionRows = rows.attention();
    let x = g.op("Reshape", [emb, g.constInt64([-1, H])]);
    for (let i = 0; i < c.layers; i++) {
      const layer = weights.scope(`distilbert.transformer.layer.${i}`);
      const attention = layer.scope("attention");
      x = L.postLnLayer(x, {
        attention: (h) =>
          L.linear(
            L.selfAttention(h, attention, { q: "q_lin", k: "k_lin", v: "v_lin" }, attentionRows),
            attention.scope("out_lin"),
            H,
            H,
          ),
        attentionNorm: layer.scope("sa_layer_norm"),
        feedForward: (h) => L.feedForward(h, layer.scope("ffn.lin1"), layer.scope("ffn.lin2")),
        outputNorm: layer.scope("output_layer_norm"),
      });
    }

    const pre = g.op("Relu", [L.linear(rows.firstTokens(x, H), weights.scope("pre_classifier"), H, H)]);
    L.logits(pre, weights.scope("classifier"), c.labels.length);
    return { graph: g, used: weights.used };
  },
};
