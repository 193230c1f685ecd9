import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { findArchitecture } from "../convert/onnx/registry.ts";
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
