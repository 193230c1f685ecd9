/** Token counts of texts under each tokenizer family of a store, as the service tokenizes them. */
import { CPU_ONLY, loadFamilies } from "../../app/service/loading.ts";
import { planModels } from "../../app/service/model-plan.ts";
import type { FamilyTokenizer } from "../../app/tokenize/family-tokenizer.ts";
import type { Store } from "../../lib/store/index.ts";

/**
 * Each family's tokenizer, loaded as the service loads it on a CPU (planned, then at the planned
 * lengths); tokenCounts reads the untruncated encoding, so the caller cuts at a model's maximum.
 */
export function familyTokenizers(store: Store): Promise<Map<string, FamilyTokenizer>> {
  return loadFamilies(store, planModels(store.models, ["cpu"], CPU_ONLY));
}

/** The token count (special tokens included, untruncated) of every text under `tokenizer`. */
export async function tokenCounts(tokenizer: FamilyTokenizer, texts: string[]): Promise<number[]> {
  return (await Promise.all(texts.map((t) => tokenizer.encodeFull(t)))).map((e) => e.length);
}
