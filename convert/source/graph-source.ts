/**
 * How a model's ONNX files come to be: built here from its checkpoint (built-model.ts), or brought as
 * they are (onnx-as-given.ts). Everything around them is shared: tokenizer families, label fixes,
 * the smoke run, engine.json, the atomic folder swap (../pipeline.ts).
 */
import type { Activation, ModelRecord } from "../../lib/store/index.ts";

/** What engine.json records of the written ONNX files and their weights. */
export type GraphRecord = Pick<ModelRecord, "onnx" | "parameters" | "weightProof" | "weights" | "pairsRefused">;

export interface GraphSource {
  /**
   * What engine.json takes from config.json; `maxLength` is the position table's (Infinity: none);
   * `vocabSize` the word-embedding rows every token id must stay below (null: config.json does not say).
   */
  config: {
    architecture: string;
    labels: string[];
    activation: Activation;
    maxLength: number;
    vocabSize: number | null;
  };
  /** sha256 of every source file the conversion reads: an unchanged set keeps the outputs. */
  files(): Record<string, string>;
  /** Writes model.onnx (and its data) into `tmp`, checks them, and says what engine.json records of them. */
  write(tmp: string, afterWrite?: (tmp: string) => void): Promise<GraphRecord>;
}

/** Non-zero FP32 values (−0 counts as zero), read as words: no float conversion. */
export function countNonZeroF32(b: Uint8Array): number {
  // Unaligned bytes are copied (new Uint8Array, not slice: a Node Buffer's slice is a view of the whole buffer).
  const words =
    b.byteOffset % 4 === 0
      ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)
      : new Uint32Array(new Uint8Array(b).buffer);
  let n = 0;
  for (let i = 0; i < words.length; i++) if ((words[i] & 0x7fffffff) !== 0) n++;
  return n;
}
