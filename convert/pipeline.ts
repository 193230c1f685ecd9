import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import {
  CONVERTER_VERSION,
  readModelRecord,
  replaceDir,
  writeModelRecord,
  writeStoreIndex,
  type ModelOrigin,
  type ModelRecord,
  type StoreIndex,
  modelKeyProblem,
  TOKENIZERS_DIR,
} from "../lib/store/index.ts";
import { WEIGHT_FILES } from "./checkpoint/index.ts";
import { ConvertError, readJsonFile, requireRegularFile } from "./errors.ts";
import { applyLabelFixes, type LabelFixes } from "./manifest.ts";
import { sha256, sha256File } from "./hash.ts";
import { modelFeeds, packedFeeds, type InputSpec } from "../lib/onnx/feeds.ts";
import { sampleRow, specialTokens, type SpecialTokens } from "../lib/tokenizer/template.ts";
import { builtModel } from "./source/built-model.ts";
import type { GraphSource } from "./source/graph-source.ts";
import { GIVEN_DATA_FILES, GIVEN_MODEL_FILE, givenOnnxModel } from "./source/onnx-as-given.ts";
import { readClassifierConfig } from "./onnx/registry.ts";
import {
  checkIdsFitModels,
  familyPrefix,
  loadFamilyTokenizer,
  readTokenizerConfig,
  writeTokenizerFamily,
} from "./tokenizer/family-files.ts";
import { checkTokenizerSafety } from "./tokenizer/tokenizer-safety.ts";
import { groupTokenizerFamilies, TOKENIZER_FILES, type TokenizerFamily } from "./tokenizer/tokenizer-family.ts";

export interface ModelSource {
  key: string;
  /** Local folder with config.json, the weights and the tokenizer files. */
  dir: string;
  origin: ModelOrigin;
  labelFixes?: LabelFixes;
  /** Folder with the base model's tokenizer files, used only if no family member ships a tokenizer.json. */
  baseTokenizerDir?: string;
  /** The folder holds a model.onnx exported elsewhere, served as it is (onnx-as-given.ts), not a checkpoint. */
  onnxAsGiven?: boolean;
  /**
   * Accept a tokenizer whose ids reach past the model's embedding rows (`--allow-vocab-mismatch`): for
   * tests that pair a tiny checkpoint with a real tokenizer. Served, a text holding such an id fails.
   */
  allowVocabMismatch?: boolean;
  /** The manifest's `defaultFanOut` (index.json): false answers /process only when named. */
  defaultFanOut?: boolean;
}

export interface ConvertOptions {
  outDir: string;
  log?: (message: string) => void;
  /** Test seam: runs after the ONNX files are written and before they are verified. */
  afterWrite?: (tmpDir: string) => void;
}

export interface ConvertResult {
  converted: string[];
  unchanged: string[];
  families: TokenizerFamily[];
}

/** Every file convert may open in a source folder. */
const SOURCE_FILES = ["config.json", ...WEIGHT_FILES, GIVEN_MODEL_FILE, ...GIVEN_DATA_FILES, ...TOKENIZER_FILES];

/** Converts models into `outDir/<key>/`, tokenizers into `outDir/tokenizers/<family>/`, and writes `outDir/index.json`. */
export async function convertModels(sources: ModelSource[], opts: ConvertOptions): Promise<ConvertResult> {
  // Keys become folders of the store: checked here, whatever the caller (manifest, CLI, tests).
  const seen = new Set<string>();
  for (const s of sources) {
    const problem = modelKeyProblem(s.key) ?? (seen.has(s.key) ? `"${s.key}" is given twice` : null);
    if (problem) throw new ConvertError(s.dir, `model key ${problem}`);
    seen.add(s.key);
  }
  // A FIFO or device in place of a file would block or never end when read: refused by name before any is opened.
  for (const s of sources) {
    const present = (dir: string, names: string[]) => names.map((f) => join(dir, f)).filter((f) => existsSync(f));
    for (const f of present(s.dir, SOURCE_FILES)) requireRegularFile(f);
    if (s.baseTokenizerDir) for (const f of present(s.baseTokenizerDir, TOKENIZER_FILES)) requireRegularFile(f);
  }
  const log = opts.log ?? (() => {});
  const configs = new Map<string, GraphSource>();
  for (const s of sources) {
    const file = join(s.dir, "config.json");
    if (!existsSync(file)) throw new ConvertError(file, "missing");
    const raw = readJsonFile(file) as Record<string, unknown>;
    configs.set(s.key, s.onnxAsGiven ? givenOnnxModel(s.dir, raw) : builtModel(s.dir, readClassifierConfig(file, raw)));
  }
  const families = groupTokenizerFamilies(
    sources.map((s) => ({ key: s.key, dir: s.dir, baseDir: s.baseTokenizerDir })),
    (key) => {
      const model = configs.get(key);
      if (!model) throw new Error(`tokenizer family member ${key} is not one of the sources read above`);
      return familyPrefix(model.config.architecture);
    },
  );
  // Before anything is written: a tokenizer that could abort the service never enters the store.
  for (const f of families) await checkTokenizerSafety(join(f.sourceDir, "tokenizer.json"));
  // Each family's tokenizer, loaded once (XLM-R's takes about a second); its ids must fit every member before anything is written.
  const members = (f: TokenizerFamily) => sources.filter((s) => f.members.includes(s.key));
  const loaded = families.map((family) => ({ family, tokenizer: loadFamilyTokenizer(family) }));
  for (const { family, tokenizer } of loaded)
    checkIdsFitModels(
      family,
      tokenizer,
      members(family).map((s) => ({ ...s, embeddingRows: configs.get(s.key)?.config.vocabSize ?? null })),
    );
  mkdirSync(opts.outDir, { recursive: true });
  for (const f of families)
    writeTokenizerFamily(
      opts.outDir,
      f,
      members(f).map((s) => s.dir),
      log,
    );
  const withSpecials = loaded.map(({ family, tokenizer }) => ({
    family,
    specials: specialTokens(join(opts.outDir, TOKENIZERS_DIR, family.id), tokenizer),
  }));

  const result: ConvertResult = { converted: [], unchanged: [], families };
  for (const s of sources) {
    const model = configs.get(s.key);
    if (!model) throw new Error(`${s.key}: its config was not read above`);
    const grouped = withSpecials.find(({ family }) => family.members.includes(s.key));
    if (!grouped) throw new Error(`${s.key}: groupTokenizerFamilies left it out of every family`);
    const didConvert = await convertOne(s, model, grouped.family, await grouped.specials, opts, log);
    (didConvert ? result.converted : result.unchanged).push(s.key);
  }
  const index: StoreIndex = {
    converterVersion: CONVERTER_VERSION,
    models: sources.map((s) => ({ key: s.key, dir: s.key, defaultFanOut: s.defaultFanOut !== false })),
    families: families.map((f) => ({
      id: f.id,
      members: f.members,
      dir: join(TOKENIZERS_DIR, f.id),
      source: f.source,
    })),
  };
  writeStoreIndex(opts.outDir, index);
  return result;
}

async function convertOne(
  s: ModelSource,
  model: GraphSource,
  family: TokenizerFamily,
  specials: SpecialTokens,
  opts: ConvertOptions,
  log: (m: string) => void,
): Promise<boolean> {
  const target = join(opts.outDir, s.key);
  const cfg = model.config;
  const files = model.files();
  const labels = applyLabelFixes(cfg.labels, s.labelFixes);
  const tokenizer = family.choices.find((c) => c.key === s.key);
  if (!tokenizer)
    throw new Error(`${s.key}: a member of tokenizer family ${family.id} without a tokenizer choice in it`);
  const inputHash = sha256(
    JSON.stringify({
      CONVERTER_VERSION,
      files,
      labels,
      family: family.id,
      tokenizer: tokenizer.source,
      origin: s.origin,
    }),
  );

  const previous = readModelRecord(target);
  if (previous?.inputHash === inputHash && outputsPresent(target, previous)) {
    log(`${s.key}: unchanged, kept`);
    return false;
  }
  const started = performance.now();
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const graph = await model.write(tmp, opts.afterWrite);
    await smokeRun(tmp, graph.onnx, specials, cfg.labels.length);
    const familyDir = join(opts.outDir, TOKENIZERS_DIR, family.id);
    // The model's own tokenizer_config.json says its maximum length (as transformers reads it); else the family's.
    const ownConfig = existsSync(join(s.dir, "tokenizer_config.json"));
    const tokenizerConfig = readTokenizerConfig(ownConfig ? s.dir : familyDir);
    const maxLength = Math.min(cfg.maxLength, tokenizerConfig.maxLength ?? Infinity);
    if (!Number.isFinite(maxLength))
      throw new ConvertError(
        join(s.dir, "config.json"),
        "no maximum length: add max_position_embeddings (the tokenizer's model_max_length sets no limit either)",
      );
    const info: ModelRecord = {
      key: s.key,
      converterVersion: CONVERTER_VERSION,
      inputHash,
      source: s.origin,
      architecture: cfg.architecture,
      labels,
      publishedLabels: cfg.labels,
      activation: cfg.activation,
      maxLength,
      specialTokens: specials,
      tokenizer: {
        family: family.id,
        dir: join("..", TOKENIZERS_DIR, family.id),
        definitionSha256: family.definition,
        source: tokenizer.source,
      },
      files,
      ...graph,
      convertedAt: new Date().toISOString(),
    };
    writeModelRecord(tmp, info);
    replaceDir(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  log(
    `${s.key}: converted in ${((performance.now() - started) / 1000).toFixed(1)} s (${cfg.architecture}, ${labels.length} labels)`,
  );
  return true;
}

/**
 * Loads the written model in onnxruntime and runs rows with the tokenizer's real special ids, fed
 * and read as engine.json says (as the service will): one row through the padded graph, two through
 * the packed one. A broken graph never becomes an output.
 */
async function smokeRun(dir: string, graph: ModelRecord["onnx"], specials: SpecialTokens, numLabels: number) {
  const input: InputSpec = { inputs: graph.inputs, inputType: graph.inputType, padId: specials.pad };
  await smokeRunOne(join(dir, graph.model), graph.outputs[0], modelFeeds([sampleRow(specials, 4)], input), [
    1,
    numLabels,
  ]);
  if (graph.packed) {
    const rows = [sampleRow(specials, 4), sampleRow(specials, 7)];
    const feeds = packedFeeds(rows, graph.packed.inputs);
    await smokeRunOne(join(dir, graph.packed.model), graph.outputs[0], feeds, [2, numLabels]);
  }
}

async function smokeRunOne(modelPath: string, output: string, feeds: Record<string, ort.Tensor>, dims: number[]) {
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "disabled" });
  try {
    const logits = (await session.run(feeds))[output];
    if (logits.dims.join("x") !== dims.join("x") || !(logits.data as Float32Array).every(Number.isFinite))
      throw new ConvertError(modelPath, `onnxruntime produced logits of shape [${logits.dims}] or non-finite values`);
  } finally {
    await session.release();
  }
}

function outputsPresent(dir: string, info: ModelRecord): boolean {
  const model = join(dir, info.onnx.model);
  const data = info.onnx.data && join(dir, info.onnx.data);
  // A brought data file may keep small tensors inline in model.onnx (optimum does): only a built one holds them all.
  const dataBytes = info.weightProof === "byte-identical" ? info.parameters.bytes : 0;
  const packed = info.onnx.packed;
  return (
    existsSync(model) &&
    (!data || (existsSync(data) && statSync(data).size >= dataBytes)) &&
    sha256File(model) === info.onnx.modelSha256 &&
    (!packed || (existsSync(join(dir, packed.model)) && sha256File(join(dir, packed.model)) === packed.modelSha256))
  );
}
