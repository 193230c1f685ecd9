/** A tokenizer family's files as convert takes them in: loaded, checked against its models, written to the store. */
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "tokenizers";
import { replaceDir, TOKENIZERS_DIR } from "../../lib/store/index.ts";
import { largestTokenId, loadTokenizer } from "../../lib/tokenizer/template.ts";
import { ConvertError, readJsonFile } from "../errors.ts";
import { sha256File } from "../hash.ts";
import { TOKENIZER_FILES, type TokenizerFamily } from "./tokenizer-family.ts";

/** A family's tokenizer.json loaded by Hugging Face's tokenizers; one it cannot load is refused naming the file. */
export function loadFamilyTokenizer(family: TokenizerFamily): Tokenizer {
  try {
    return loadTokenizer(family.sourceDir);
  } catch (e) {
    throw new ConvertError(
      join(family.sourceDir, "tokenizer.json"),
      `the tokenizers library cannot load it (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** A family member as the id check sees it: its word-embedding rows (null when unknown) and whether a mismatch is allowed. */
export interface FamilyMember {
  key: string;
  dir: string;
  embeddingRows: number | null;
  allowVocabMismatch?: boolean;
}

/** Refuses a tokenizer whose largest id is at or beyond a member's embedding rows: a text holding it would fail at inference. */
export function checkIdsFitModels(family: TokenizerFamily, tokenizer: Tokenizer, members: FamilyMember[]) {
  const largest = largestTokenId(tokenizer);
  for (const m of members) {
    if (m.embeddingRows === null || largest < m.embeddingRows || m.allowVocabMismatch) continue;
    throw new ConvertError(
      join(family.sourceDir, "tokenizer.json"),
      `its largest token id ${largest} is at or beyond the ${m.embeddingRows} word-embedding rows of model ${m.key} ` +
        `(vocab_size of ${join(m.dir, "config.json")}): a text holding that id would fail at inference. ` +
        "Pair the model with its own tokenizer (--allow-vocab-mismatch accepts it, for tests only)",
    );
  }
}

/**
 * The family's files in the store (tokenizer.json from the chosen source, the others from it or the
 * first member that has them), swapped in whole; unchanged when its tokenizer.json already is.
 */
export function writeTokenizerFamily(
  outDir: string,
  f: TokenizerFamily,
  memberDirs: string[],
  log: (m: string) => void,
) {
  const target = join(outDir, TOKENIZERS_DIR, f.id);
  const tokenizerHash = sha256File(join(f.sourceDir, "tokenizer.json"));
  if (existsSync(join(target, "tokenizer.json")) && sha256File(join(target, "tokenizer.json")) === tokenizerHash)
    return;
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const file of TOKENIZER_FILES) {
    const from = [f.sourceDir, ...memberDirs].find((d) => existsSync(join(d, file)));
    if (from && (file !== "tokenizer.json" || from === f.sourceDir)) cpSync(join(from, file), join(tmp, file));
  }
  replaceDir(tmp, target);
  log(`tokenizer family ${f.id}: ${f.members.join(", ")} (tokenizer.json from ${f.source})`);
}

/** The family id's readable part: the architecture without its task (xlmr for XLM-RoBERTa: ids engines already carry). */
export function familyPrefix(architecture: string): string {
  const name = architecture.replace(/ForSequenceClassification$/, "").toLowerCase();
  return name === "xlmroberta" ? "xlmr" : name;
}

/** tokenizer_config.json's model_max_length, when it states a real one (transformers writes 1e30 for "no limit"). */
export function readTokenizerConfig(dir: string): { maxLength?: number } {
  const file = join(dir, "tokenizer_config.json");
  if (!existsSync(file)) return {};
  const m = (readJsonFile(file) as { model_max_length?: number }).model_max_length;
  return m !== undefined && Number.isSafeInteger(m) && m > 0 ? { maxLength: m } : {};
}
