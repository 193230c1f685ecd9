/** A tokenization worker: long requests are encoded here so the HTTP thread never spends long on them. */
import { serveWorker } from "../workers/serve.ts";
import { FamilyTokenizer } from "./family-tokenizer.ts";
import { encodePacked, type PackedRows } from "./pack.ts";
import type { EncodeCall, FamilySpec } from "./pool.ts";

let families: FamilyTokenizer[] = [];

serveWorker<FamilySpec[], EncodeCall, { families: number }, Record<string, PackedRows>>({
  init(specs) {
    families = specs.map((f) => FamilyTokenizer.load(f.id, f.dir, f.maxLength));
    return { families: families.length };
  },
  handle({ texts, cancel }) {
    const flag = new Int32Array(cancel);
    const cancelled = () => Atomics.load(flag, 0) !== 0;
    return { value: Object.fromEntries(families.map((f) => [f.id, encodePacked(f, texts, cancelled)])) };
  },
});
