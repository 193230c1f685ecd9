import { existsSync } from "node:fs";
import { join } from "node:path";
import { StoreError, type StoredFamily, type StoredModel } from "../../lib/store/index.ts";
import { definitionHash, TokenizerFileError } from "../../lib/tokenizer/definition.ts";

/**
 * A family's tokenizer.json is checked at start as weights are: its definition (what decides a
 * text's ids) must hash as every member's engine.json recorded at conversion. An edited or swapped
 * file (RoBERTa's ids fed to XLM-R models) would otherwise be served without a word; a file that is
 * not a tokenizer would fail the start without naming itself. Each is a StoreError naming the file.
 */
export function verifyFamilyFile(family: StoredFamily, models: StoredModel[]): void {
  const file = join(family.dir, "tokenizer.json");
  if (!existsSync(file)) throw new StoreError(file, `missing: tokenizer family ${family.id} has no tokenizer.json`);
  let actual: string;
  try {
    actual = definitionHash(file);
  } catch (e) {
    throw asStoreError(e);
  }
  for (const m of models) {
    if (m.record.tokenizer.family !== family.id) continue;
    const recorded = m.record.tokenizer.definitionSha256;
    if (recorded !== actual)
      throw new StoreError(
        file,
        `its tokenizer definition has sha256 ${actual.slice(0, 12)}…, ${m.key}'s engine.json records ` +
          `${recorded?.slice(0, 12)}…: the file was edited or replaced after conversion`,
      );
  }
}

/** A TokenizerFileError (a file that is not a tokenizer, or could abort one) as the StoreError naming it; other errors as they are. */
export const asStoreError = (e: unknown): unknown =>
  e instanceof TokenizerFileError ? new StoreError(e.file, e.problem) : e;
