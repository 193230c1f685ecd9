import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import {
  CONVERTER_VERSION,
  readModelRecord,
  readStore,
  replaceDir,
  StoreError,
  writeModelRecord,
  writeStoreIndex,
  type ModelRecord,
  type StoreIndex,
} from "./index.ts";

const record = (key: string, family = "xlmr-abc"): ModelRecord =>
  ({ key, tokenizer: { family, dir: `../tokenizers/${family}` } }) as ModelRecord;
const index = (keys: string[]): StoreIndex => ({
  converterVersion: CONVERTER_VERSION,
  models: keys.map((key) => ({ key, dir: key })),
  families: [{ id: "xlmr-abc", members: keys, dir: "tokenizers/xlmr-abc", source: keys[0] }],
});

function writeStore(keys: string[], records = keys.map((k) => record(k))): string {
  const dir = tempDir("store");
  for (const r of records) {
    mkdirSync(join(dir, r.key), { recursive: true });
    writeModelRecord(join(dir, r.key), r);
  }
  writeStoreIndex(dir, index(keys));
  return dir;
}

const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
};

describe("the engines store", () => {
  test("readStore: the models in index order with their records and absolute folders, the families' folders absolute", () => {
    const dir = writeStore(["b", "a"]);
    const store = readStore(dir);
    expect(store.models.map((m) => [m.key, m.dir, m.record.key])).toEqual([
      ["b", join(dir, "b"), "b"],
      ["a", join(dir, "a"), "a"],
    ]);
    expect(store.families[0].dir).toBe(join(dir, "tokenizers", "xlmr-abc"));
  });

  test("a missing index, a broken engine.json, a record for another key or an unlisted family: StoreError naming the file", () => {
    const missing = errorOf(() => readStore(tempDir("empty")));
    expect(missing).toBeInstanceOf(StoreError);
    expect((missing as StoreError).message).toMatch(/index\.json: not found: run `bun run convert` first/);

    const broken = writeStore(["a"]);
    writeFileSync(join(broken, "a", "engine.json"), "{ not json");
    expect((errorOf(() => readStore(broken)) as StoreError).file).toBe(join(broken, "a", "engine.json"));

    const swapped = writeStore(["a"], [record("a")]);
    writeModelRecord(join(swapped, "a"), record("b"));
    expect((errorOf(() => readStore(swapped)) as Error).message).toMatch(/is for b, index.json lists a/);

    const unlisted = writeStore(["a"], [record("a", "other")]);
    expect((errorOf(() => readStore(unlisted)) as Error).message).toMatch(/tokenizer family other is not listed/);
  });

  test("a store written by another converter version is refused, saying to convert again", () => {
    const dir = writeStore(["a"]);
    writeStoreIndex(dir, { ...index(["a"]), converterVersion: "0" });
    expect((errorOf(() => readStore(dir)) as Error).message).toMatch(
      /converter version 0, this service reads version \d+: run `bun run convert` again/,
    );
  });

  test("readModelRecord is null for a missing or unreadable record (convert then redoes the model)", () => {
    const dir = tempDir("record");
    expect(readModelRecord(dir)).toBeNull();
    writeFileSync(join(dir, "engine.json"), "{");
    expect(readModelRecord(dir)).toBeNull();
  });

  test("atomic writes leave no temporary file; replaceDir swaps a folder in and removes the old one", () => {
    const dir = writeStore(["a"]);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).models).toEqual([{ key: "a", dir: "a" }]);
    const tmp = join(dir, "a.tmp-1");
    mkdirSync(tmp);
    writeFileSync(join(tmp, "new"), "");
    replaceDir(tmp, join(dir, "a"));
    expect(readdirSync(join(dir, "a"))).toEqual(["new"]);
    expect(existsSync(tmp)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".old-"))).toEqual([]);
  });
});
