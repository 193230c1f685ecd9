import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_MANIFEST } from "../convert/manifest.ts";
import type { ModelSource } from "../convert/pipeline.ts";
import {
  FULL_SIZE,
  TINY,
  writeRandomCheckpoint,
  type RandomArchitecture,
} from "../convert/random/random-checkpoint.ts";
import { sharedFile } from "./shared.ts";

const madeDirs: string[] = [];

/**
 * A fresh folder under the OS temp dir, removed when the process exits: the test runs of this project
 * had left ~4,500 of them (80 GB) and filled the machine's disk before they were removed.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  if (madeDirs.length === 0) process.once("exit", removeTempDirs);
  madeDirs.push(dir);
  return dir;
}

/** Removes every folder tempDir made (at exit; `bun test` runs it after the last test: testkit/test-preload.ts). */
export function removeTempDirs() {
  for (const d of madeDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The real published labels of a manifest model (from ../shared/models/<org>__<name>/config.json). */
export function publishedLabels(hubId: string): string[] | undefined {
  const cfg = JSON.parse(readFileSync(sharedFile("models", hubId.replace("/", "__"), "config.json"), "utf8"));
  const id2label = cfg.id2label as Record<string, string> | undefined;
  return id2label ? Object.keys(id2label).map((_, i) => id2label[String(i)]) : undefined;
}

/** The shared tokenizer fixture of each architecture (DistilBERT and ELECTRA use BERT's vocabulary, as distilbert-base-uncased and google/electra-base-discriminator do). */
const TOKENIZER_OF: Record<RandomArchitecture, string> = {
  xlmr: "xlmr-charsmap",
  roberta: "roberta-base",
  bert: "bert-base-uncased",
  distilbert: "bert-base-uncased",
  deberta: "deberta-v3",
  electra: "bert-base-uncased",
  modernbert: "modernbert",
};

/** Copies a shared tokenizer fixture (real RoBERTa files, or the XLM-R-shaped one with a real charsmap) into a model folder. */
export function addTokenizer(dir: string, architecture: RandomArchitecture) {
  const from = sharedFile("fixtures", "tokenizers", TOKENIZER_OF[architecture]);
  cpSync(from, dir, { recursive: true });
}

/**
 * Tiny random checkpoints for the five manifest keys, each with its real published labels (or none,
 * as published) and a tokenizer of its architecture: everything the real models have except their size.
 */
export function tinyManifestSources(
  root = tempDir("tiny-models"),
  seed = 7,
  size: "tiny" | "full" = "tiny",
): ModelSource[] {
  return DEFAULT_MANIFEST.models.map((m, i) => {
    const architecture = m.key === "jy46604790" ? "roberta" : "xlmr";
    const dir = join(root, m.key);
    const labels = publishedLabels(m.hubId);
    writeRandomCheckpoint(dir, {
      ...(size === "tiny" ? TINY : FULL_SIZE)[architecture],
      labels,
      numLabels: labels ? undefined : 2,
      seed: seed + i,
    });
    addTokenizer(dir, architecture);
    return { key: m.key, dir, origin: { local: dir }, labelFixes: m.labelFixes };
  });
}

/** One tiny random model of `architecture` (two labels) with its family's tokenizer, converted under the key "tiny". */
export async function tinyEngines(architecture: "roberta" | "xlmr", prefix: string): Promise<string> {
  const { convertModels } = await import("../convert/pipeline.ts");
  const src = join(tempDir(`${prefix}-src`), "tiny");
  writeRandomCheckpoint(src, { ...TINY[architecture], numLabels: 2 });
  addTokenizer(src, architecture);
  const engines = tempDir(`${prefix}-engines`);
  await convertModels([{ key: "tiny", dir: src, origin: {} }], { outDir: engines });
  return engines;
}

/** One RoBERTa model slow enough that a batch of 16 × 512 tokens takes seconds on one CPU thread, converted. */
export async function slowEngines(): Promise<string> {
  const { convertModels } = await import("../convert/pipeline.ts");
  const src = join(tempDir("slow-src"), "slow");
  writeRandomCheckpoint(src, {
    architecture: "roberta",
    vocabSize: 50265,
    hiddenSize: 384,
    layers: 6,
    heads: 6,
    intermediateSize: 1536,
    maxPositionEmbeddings: 514,
    numLabels: 2,
  });
  addTokenizer(src, "roberta");
  const engines = tempDir("slow-engines");
  await convertModels([{ key: "slow", dir: src, origin: {} }], { outDir: engines });
  return engines;
}
