import { describe, expect, test } from "bun:test";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { StoreError, type ModelRecord, type StoredModel } from "../../lib/store/index.ts";
import { definitionHash } from "../../lib/tokenizer/definition.ts";
import { tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { verifyFamilyFile } from "./family-file.ts";

const family = (dir: string) => ({ id: "roberta-0123", members: ["a", "b"], dir, source: "a" });
const member = (key: string, definitionSha256: string, familyId = "roberta-0123"): StoredModel => ({
  key,
  dir: `/engines/${key}`,
  record: { key, tokenizer: { family: familyId, definitionSha256 } } as ModelRecord,
  defaultFanOut: true,
});

function roberta(): string {
  const dir = join(tempDir("family-file"), "roberta-0123");
  cpSync(join(TOKENIZER_FIXTURES, "roberta-base"), dir, { recursive: true });
  return dir;
}

describe("verifyFamilyFile", () => {
  test("passes when every member's engine.json records the file's definition; other families' records do not count", () => {
    const dir = roberta();
    const hash = definitionHash(join(dir, "tokenizer.json"));
    expect(() =>
      verifyFamilyFile(family(dir), [member("a", hash), member("b", hash), member("x", "0".repeat(64), "xlmr-1")]),
    ).not.toThrow();
  });

  test("a member whose record differs names the file, the member and both hashes", () => {
    const dir = roberta();
    const hash = definitionHash(join(dir, "tokenizer.json"));
    const xlmr = definitionHash(join(TOKENIZER_FIXTURES, "xlmr-charsmap", "tokenizer.json"));
    const call = () => verifyFamilyFile(family(dir), [member("a", hash), member("b", xlmr)]);
    expect(call).toThrow(StoreError);
    expect(call).toThrow(
      `${join(dir, "tokenizer.json")}: its tokenizer definition has sha256 ${hash.slice(0, 12)}…, b's engine.json records ${xlmr.slice(0, 12)}…`,
    );
  });

  test("a missing tokenizer.json is a StoreError naming it", () => {
    const dir = roberta();
    rmSync(join(dir, "tokenizer.json"));
    expect(() => verifyFamilyFile(family(dir), [])).toThrow(`${join(dir, "tokenizer.json")}: missing`);
  });
});
