import { readdirSync } from "node:fs";
import * as ort from "onnxruntime-node";

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
