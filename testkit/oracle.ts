import { cpSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { findArchitecture } from "../convert/onnx/registry.ts";
import type { ModelSource } from "../convert/pipeline.ts";
import type { RandomArchitecture } from "../convert/random/random-checkpoint.ts";
import { addTokenizer, tempDir } from "./fixtures.ts";
import { ORACLE } from "./shared.ts";

/** An oracle folder the converter cannot build yet, and the architecture that makes it so. */
export interface SkippedOracle {
  name: string;
  architectures: string[];
}

/**
 * The oracle folders of ../shared whose architecture convert builds, and those it skips (said on stderr
 * once per call): ../shared gains fixtures before the code for them lands, and a new fixture must not
 * turn a test red that walks them all.
 */
export function oracleFolders(): { built: string[]; skipped: SkippedOracle[] } {
  const built: string[] = [];
  const skipped: SkippedOracle[] = [];
  for (const name of readdirSync(ORACLE).sort()) {
    const config = JSON.parse(readFileSync(join(ORACLE, name, "config.json"), "utf8"));
    if (findArchitecture(config)) built.push(name);
    else skipped.push({ name, architectures: config.architectures ?? [config.model_type] });
  }
  if (skipped.length > 0)
    console.warn(
      `oracle fixtures skipped (convert does not build their architecture yet): ${skipped
        .map((s) => `${s.name} (${s.architectures.join(", ")})`)
        .join("; ")}`,
    );
  return { built, skipped };
}

/** Each oracle's tokenizer fixture: the family its architecture uses. */
const architectureOf = (name: string): RandomArchitecture =>
  (["modernbert", "roberta", "xlmr", "distilbert", "deberta"] as const).find((a) => name.startsWith(a)) ?? "bert";

/**
 * An oracle checkpoint plus the tokenizer of its family, in a scratch folder (shared/ is read-only).
 * The oracles' 600–1000 embedding rows are paired with real tokenizers: the mismatch is allowed.
 */
export function oracleSource(name: string): ModelSource {
  const dir = join(tempDir("oracle-src"), name);
  cpSync(join(ORACLE, name), dir, { recursive: true });
  rmSync(join(dir, "model.onnx"), { force: true }); // bert-onnx-export: here its checkpoint is converted
  addTokenizer(dir, architectureOf(name));
  return { key: name, dir, origin: { local: dir }, allowVocabMismatch: true };
}

/** An oracle's padded batch through a converted model, as the graph takes it (token types 0 where it has them). */
export async function runLogits(modelPath: string, ids: number[][], mask: number[][]) {
  const session = await ort.InferenceSession.create(modelPath);
  const shape = [ids.length, ids[0].length];
  const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), shape);
  const feeds: Record<string, ort.Tensor> = { input_ids: int64(ids), attention_mask: int64(mask) };
  if (session.inputNames.includes("token_type_ids")) feeds.token_type_ids = int64(ids.map((r) => r.map(() => 0)));
  const out = await session.run(feeds);
  await session.release();
  return { data: Array.from(out.logits.data as Float32Array), dims: out.logits.dims };
}

/** Temporary or old folders a failed conversion must not leave behind. */
export const noLeftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes(".tmp-") || n.includes(".old-"));
