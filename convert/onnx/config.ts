/** What every architecture reads from config.json the same way: labels, the scoring rule, checked integers. */
import type { Activation } from "../../lib/store/index.ts";
import { ConvertError } from "../errors.ts";

/** What a classifier graph needs from config.json, validated; the same shape for every architecture. */
export interface ClassifierConfig {
  /** The config's architecture name, e.g. BertForSequenceClassification. */
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  layerNormEps: number;
  maxPositionEmbeddings: number;
  padTokenId: number;
  /** id2label as published, index = class id. */
  labels: string[];
  activation: Activation;
  /** The longest input the position table allows. */
  maxLength: number;
  /** The graph's inputs, in order. */
  inputs: string[];
}

export type RawConfig = Record<string, unknown>;

/** Typed reads of one config.json; every failure names the file. */
export class ConfigReader {
  constructor(
    readonly file: string,
    readonly raw: RawConfig,
  ) {}

  fail(why: string): never {
    throw new ConvertError(this.file, why);
  }

  int(key: string, fallback?: number): number {
    const v = this.raw[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      this.fail(`${key} must be a non-negative integer, got ${JSON.stringify(this.raw[key])}`);
    return v as number;
  }

  positive(key: string, fallback: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0)) this.fail(`${key} must be a positive number`);
    return v as number;
  }

  /** hidden_size must split evenly into the heads. */
  heads(hiddenSize: number, key: string): number {
    const heads = this.int(key);
    if (heads === 0 || hiddenSize % heads !== 0)
      this.fail(`hidden size ${hiddenSize} is not a multiple of ${key} ${heads}`);
    return heads;
  }

  /** Only the exact GELU is built (erf form, as transformers' "gelu"). */
  gelu(key: string) {
    const act = this.raw[key] ?? "gelu";
    if (act !== "gelu") this.fail(`${key} ${JSON.stringify(act)} is not supported (only exact "gelu")`);
  }

  absolutePositions() {
    const type = this.raw.position_embedding_type ?? "absolute";
    if (type !== "absolute") this.fail(`position_embedding_type ${JSON.stringify(type)} is not supported`);
  }

  /** As transformers reads them: id2label wins; otherwise num_labels (default 2) with LABEL_i names. */
  labels(): string[] {
    const id2label = (this.raw.id2label ?? null) as Record<string, string> | null;
    if (id2label && Object.keys(id2label).length > 0) {
      const n = Object.keys(id2label).length;
      return Array.from({ length: n }, (_, i) => id2label[String(i)] ?? this.fail(`id2label has no entry for id ${i}`));
    }
    return Array.from({ length: this.int("num_labels", 2) }, (_, i) => `LABEL_${i}`);
  }

  /**
   * What BERT and RoBERTa (XLM-R, CamemBERT) read alike, under BERT's names: all but the longest
   * input and the graph's inputs, which differ between them, as does the pad id's default.
   */
  bertNamed(architecture: string, padTokenIdDefault: number): Omit<ClassifierConfig, "maxLength" | "inputs"> {
    this.gelu("hidden_act");
    this.absolutePositions();
    const hiddenSize = this.int("hidden_size");
    const labels = this.labels();
    const padTokenId = this.int("pad_token_id", padTokenIdDefault);
    return {
      architecture,
      vocabSize: this.int("vocab_size"),
      hiddenSize,
      layers: this.int("num_hidden_layers"),
      heads: this.heads(hiddenSize, "num_attention_heads"),
      intermediateSize: this.int("intermediate_size"),
      layerNormEps: this.positive("layer_norm_eps", 1e-12),
      maxPositionEmbeddings: this.int("max_position_embeddings"),
      padTokenId,
      labels,
      activation: this.activation(labels.length),
    };
  }

  /** The text-classification pipeline's rule: sigmoid for multi-label or a single label, softmax otherwise. */
  activation(labels: number): Activation {
    const problem = this.raw.problem_type;
    if (
      problem !== undefined &&
      problem !== null &&
      !["single_label_classification", "multi_label_classification", "regression"].includes(problem as string)
    )
      this.fail(`problem_type ${JSON.stringify(problem)} is not a known problem type`);
    if (problem === "regression") this.fail("problem_type regression is not a classifier: its output is not a label");
    return problem === "multi_label_classification" || labels === 1 ? "sigmoid" : "softmax";
  }
}
