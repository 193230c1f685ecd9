/** Token counts of texts under each tokenizer family of a store, as the service tokenizes them. */
import { SETTINGS } from "../../app/config.ts";
import { CPU_ONLY } from "../../app/service/loading.ts";
import { familyLengths, planModels } from "../../app/service/model-plan.ts";
import { FamilyTokenizer } from "../../app/tokenize/family-tokenizer.ts";
import type { Store } from "../../lib/store/index.ts";

/**
 * Each family's tokenizer, loaded as the service loads it on a CPU (planned, then at the planned
 * lengths); tokenCounts reads the untruncated encoding, so the caller cuts at a model's maximum.
 */
export async function familyTokenizers(store: Store): Promise<Map<string, FamilyTokenizer>> {
  const lengths = familyLengths(planModels(store.models, ["cpu"], CPU_ONLY, SETTINGS.maxSequenceLength.default));
  const used = store.families.filter((f) => lengths.has(f.id));
  return new Map(
    await Promise.all(
      used.map(async (f) => [f.id, await FamilyTokenizer.load(f.id, f.dir, lengths.get(f.id) ?? 0)] as const),
    ),
  );
}

/** The token count (special tokens included, untruncated) of every text under `tokenizer`. */
export async function tokenCounts(tokenizer: FamilyTokenizer, texts: string[]): Promise<number[]> {
  return (await Promise.all(texts.map((t) => tokenizer.encodeFull(t)))).map((e) => e.length);
}
