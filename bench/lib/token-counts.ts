/** Token counts of texts under each tokenizer family of a store, as the service tokenizes them. */
import { FamilyTokenizer } from "../../app/tokenize/family-tokenizer.ts";
import type { Store } from "../../lib/store/index.ts";

/** Each family's tokenizer, loaded without truncation (the caller cuts at a model's maximum). */
export function familyTokenizers(store: Store): Promise<Map<string, FamilyTokenizer>> {
  return Promise.all(
    store.families.map(async (f) => [f.id, await FamilyTokenizer.load(f.id, f.dir, 1_000_000)] as const),
  ).then((pairs) => new Map(pairs));
}

/** The token count (special tokens included, untruncated) of every text under `tokenizer`. */
export async function tokenCounts(tokenizer: FamilyTokenizer, texts: string[]): Promise<number[]> {
  return (await Promise.all(texts.map((t) => tokenizer.encodeFull(t)))).map((e) => e.length);
}
