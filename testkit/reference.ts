import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { Tokenizer } from "tokenizers";
import { topLabel, type ModelAnswer } from "../app/scoring.ts";
import { modelFeeds } from "../lib/onnx/feeds.ts";
import { readStore, type ModelRecord } from "../lib/store/index.ts";

/**
 * A store's models answered without the service: Hugging Face's tokenizer on each family's
 * tokenizer.json with its own truncation (as transformers sets it: the model's maximum length), one
 * text at a time through onnxruntime, scored as the pipeline scores (app/scoring.ts, held to the
 * pipeline's own answers by app/scoring.test.ts). No batching, padding, queue or worker.
 */
export class ReferenceClassifier {
  private constructor(
    readonly records: Record<string, ModelRecord>,
    private readonly tokenizers: Map<string, Tokenizer>,
    private readonly sessions: Map<string, ort.InferenceSession>,
  ) {}

  static async load(engines: string): Promise<ReferenceClassifier> {
    const store = readStore(engines);
    const records: Record<string, ModelRecord> = {};
    const tokenizers = new Map<string, Tokenizer>();
    const sessions = new Map<string, ort.InferenceSession>();
    for (const m of store.models) {
      const family = store.families.find((f) => f.id === m.record.tokenizer.family)!;
      const tokenizer = Tokenizer.fromFile(join(family.dir, "tokenizer.json"));
      tokenizer.setTruncation(m.record.maxLength);
      records[m.key] = m.record;
      tokenizers.set(m.key, tokenizer);
      sessions.set(
        m.key,
        await ort.InferenceSession.create(join(m.dir, m.record.onnx.model), {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
        }),
      );
    }
    return new ReferenceClassifier(records, tokenizers, sessions);
  }

  get keys(): string[] {
    return Object.keys(this.records);
  }

  /** The ids the model sees. A text that is not well-formed UTF-16 is made so first, as the README promises. */
  async ids(key: string, text: string): Promise<number[]> {
    return (await this.tokenizers.get(key)!.encode(text.toWellFormed())).getIds();
  }

  async logits(key: string, text: string): Promise<Float32Array> {
    const ids = await this.ids(key, text);
    const shape = [1, ids.length];
    const out = await this.sessions.get(key)!.run({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), shape),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
    });
    return out.logits.data as Float32Array;
  }

  async answer(key: string, text: string): Promise<ModelAnswer> {
    const record = this.records[key];
    return topLabel(await this.logits(key, text), record.labels, record.activation);
  }

  /** Every model's answer, in the store's order (the service's answer order); the models run side by side. */
  async answers(text: string): Promise<Record<string, ModelAnswer>> {
    const answers = await Promise.all(this.keys.map((key) => this.answer(key, text)));
    return Object.fromEntries(this.keys.map((key, i) => [key, answers[i]]));
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
  }
}

/**
 * How far a service answer is from the reference one: "" when the labels agree and the scores
 * differ by less than `tolerance` (batching pads rows, which moves logits by ~1e-6), else what differs.
 */
export function answerDifference(got: ModelAnswer, want: ModelAnswer, tolerance = 1e-5): string {
  if (got.label !== want.label) return `label ${got.label}, reference ${want.label}`;
  if (!(Math.abs(got.score - want.score) < tolerance)) return `score ${got.score}, reference ${want.score}`;
  return "";
}

/**
 * Each label's score computed here from onnxruntime's logits on given ids (a fixture's, computed
 * independently of the service), by the record's activation: sigmoid per label, or softmax. Label order.
 */
export async function scoresOnIds(session: ort.InferenceSession, record: ModelRecord, ids: number[]) {
  const logits = await logitsOnIds(session, record, ids);
  const exps = logits.map((l) => Math.exp(l - Math.max(...logits)));
  const scores =
    record.activation === "sigmoid"
      ? logits.map((l) => 1 / (1 + Math.exp(-l)))
      : exps.map((e) => e / exps.reduce((a, b) => a + b));
  return record.labels.map((label, i) => ({ label, score: scores[i] }));
}

/** onnxruntime's logits for one row of given ids, fed as the record says (one text: token types 0). */
export async function logitsOnIds(session: ort.InferenceSession, record: ModelRecord, ids: number[]) {
  const input = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
  return Array.from((await session.run(modelFeeds([ids], input)))[record.onnx.outputs[0]].data as Float32Array);
}
