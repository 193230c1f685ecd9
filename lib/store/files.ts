import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  CONVERTER_VERSION,
  INDEX_FILE,
  RECORD_FILE,
  type FamilyEntry,
  type ModelRecord,
  type StoreIndex,
} from "./contract.ts";

/** A store that cannot be read: names the file and says what to do. */
export class StoreError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "StoreError";
  }
}

/** A model as the store holds it: its record and its folder (absolute). */
export interface StoredModel {
  key: string;
  dir: string;
  record: ModelRecord;
  /** Answers a /process that names no models (index.json's `defaultFanOut`, true when absent). */
  defaultFanOut: boolean;
}

/** A tokenizer family with its folder made absolute. */
export interface StoredFamily extends FamilyEntry {
  dir: string;
}

export interface Store {
  dir: string;
  index: StoreIndex;
  models: StoredModel[];
  families: StoredFamily[];
}

export const hasStore = (dir: string) => existsSync(join(dir, INDEX_FILE));

function readJson<T>(file: string): T {
  if (!existsSync(file)) throw new StoreError(file, "not found: run `bun run convert` first");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new StoreError(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** index.json and every model's engine.json, with absolute folders; a missing or broken file throws StoreError. */
export function readStore(storeDir: string): Store {
  const dir = resolve(storeDir);
  const index = readJson<StoreIndex>(join(dir, INDEX_FILE));
  // Records of another converter version mean other things (fields added or changed): reconvert.
  if (index.converterVersion !== CONVERTER_VERSION)
    throw new StoreError(
      join(dir, INDEX_FILE),
      `written by converter version ${index.converterVersion}, this service reads version ${CONVERTER_VERSION}: ` +
        "run `bun run convert` again (unchanged checkpoints are reconverted from the download cache)",
    );
  const models = index.models.map((m) => ({
    key: m.key,
    dir: join(dir, m.dir),
    record: readJson<ModelRecord>(join(dir, m.dir, RECORD_FILE)),
    defaultFanOut: m.defaultFanOut !== false,
  }));
  for (const m of models) {
    if (m.record.key !== m.key)
      throw new StoreError(join(m.dir, RECORD_FILE), `is for ${m.record.key}, index.json lists ${m.key}`);
    if (!index.families.some((f) => f.id === m.record.tokenizer.family))
      throw new StoreError(
        join(dir, INDEX_FILE),
        `${m.key}'s tokenizer family ${m.record.tokenizer.family} is not listed`,
      );
  }
  if (!models.some((m) => m.defaultFanOut))
    throw new StoreError(join(dir, INDEX_FILE), "no model has defaultFanOut: a bare /process would answer nothing");
  return { dir, index, models, families: index.families.map((f) => ({ ...f, dir: join(dir, f.dir) })) };
}

/** One model's engine.json, or null when it is missing or unreadable (convert then redoes the model). */
export function readModelRecord(modelDir: string): ModelRecord | null {
  try {
    return JSON.parse(readFileSync(join(modelDir, RECORD_FILE), "utf8")) as ModelRecord;
  } catch {
    return null;
  }
}

/** Writes JSON through a temporary file and a rename: a reader sees the old file or the new one, never half. */
function writeJsonAtomically(file: string, value: unknown) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

export const writeModelRecord = (modelDir: string, record: ModelRecord) =>
  writeJsonAtomically(join(modelDir, RECORD_FILE), record);
export const writeStoreIndex = (storeDir: string, index: StoreIndex) =>
  writeJsonAtomically(join(storeDir, INDEX_FILE), index);

/** Swaps a fully written folder into place; the old one is removed only after the new one is there. */
export function replaceDir(tmp: string, target: string) {
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
}
