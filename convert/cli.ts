import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { modelKeyProblem } from "../lib/store/index.ts";
import { loadManifest, type Manifest } from "./manifest.ts";
import { ConvertError } from "./errors.ts";
import { downloadRepo } from "./hub/download.ts";
import { HUB_DEFAULTS, HUB_SETTINGS, type HubEnvironment, type HubSettings, hubSettings } from "./hub/settings.ts";
import { convertModels, type ModelSource } from "./pipeline.ts";
import { buildTrtEngines } from "./trt/build.ts";
import { GPU_STACK } from "../lib/gpu/stack.ts";
import { ENGINES_DIR, MAX_BATCH_SIZE } from "../lib/engine-settings.ts";
import {
  type Env,
  path,
  readSettings,
  type SettingsOf,
  settingList,
  settingsHelp,
  settingsMarkdown,
} from "../lib/settings.ts";

/** What convert reads from its environment. */
export interface ConvertEnvironment {
  manifest: string | null;
  enginesDir: string;
  maxBatchSize: number;
  hub: HubEnvironment;
}

/** convert's settings, in README's table (Converting models) and in --help. */
export const CONVERT_SETTINGS = {
  manifest: {
    name: "MANIFEST",
    type: path,
    default: null,
    derived: "the five models (`convert/manifest.ts`)",
    doc: "a JSON file of the models to convert instead of the built-in five (see Serving other models)",
  },
  enginesDir: ENGINES_DIR,
  maxBatchSize: MAX_BATCH_SIZE,
  hub: HUB_SETTINGS,
} satisfies SettingsOf<ConvertEnvironment>;

const CONVERT_SETTING_LIST = settingList(CONVERT_SETTINGS);

/** The --trt flags' defaults, as parsed and as USAGE shows them. */
const TRT_FLAG_DEFAULTS = { runner: "docker", opt: "16x64", workspaceMiB: "4096" } as const;

export const USAGE = `bun run convert [--model KEY=SOURCE ...] [--out DIR] [--allow-vocab-mismatch] [--trt [--trt-runner docker|local] [--trt-max-batch N] [--trt-opt BxS] [--trt-workspace MiB]]

Converts Hugging Face checkpoints into ONNX models the service runs (weights byte-identical, proven
in each engine.json). Without --model, converts every model of the manifest ($MANIFEST) into
$ENGINES_DIR.

  --model KEY=SOURCE  SOURCE is a local checkpoint folder or org/name[@revision] on the Hub
  --model KEY=onnx:SOURCE
                      SOURCE holds a model.onnx exported elsewhere (e.g. by optimum; external data allowed)
                      beside its config.json and tokenizer: served as it is, for any architecture; its
                      inputs and output are checked and it is run once, but its weights cannot be proven
  --out DIR           output folder (default: $ENGINES_DIR)
  --allow-vocab-mismatch
                      accept a tokenizer whose ids reach past the model's embedding rows (config vocab_size),
                      which convert otherwise refuses: served, a text holding such an id fails. For tests
                      pairing tiny checkpoints with real tokenizers, never for a model you serve
  --trt               then build FP32 TensorRT engines (GPU host; skipped with a message without one)
  --trt-runner        docker (default): trtexec in ${GPU_STACK.tensorrtImage};
                      local: a trtexec on PATH (inside that image, e.g. the chart's init container)
  --trt-max-batch N   largest batch the engine accepts (default: $MAX_BATCH_SIZE)
  --trt-opt BxS       the shape TensorRT tunes for (default ${TRT_FLAG_DEFAULTS.opt}: tweets in batches)
  --trt-workspace MiB builder workspace (default ${TRT_FLAG_DEFAULTS.workspaceMiB})

Environment (unset or empty: the default):
${settingsHelp(CONVERT_SETTING_LIST)}

Off a terminal (an init container), a progress line goes to stderr every ${HUB_DEFAULTS.progressEveryMs / 1000} s while a file downloads.`;

/** Marks a --model source as an ONNX model brought as it is (convert/onnx-as-given.ts). */
const ONNX_AS_GIVEN = "onnx:";

export interface CliRequest {
  models: { key: string; source: string; onnxAsGiven?: boolean }[] | null;
  outDir: string;
  /** MANIFEST; null: the built-in manifest. */
  manifest: string | null;
  hub: HubEnvironment;
  /** --allow-vocab-mismatch: every source's ModelSource.allowVocabMismatch. */
  allowVocabMismatch: boolean;
  trt: {
    runner: "docker" | "local";
    maxBatch: number;
    opt: { batch: number; sequence: number };
    workspaceMiB: number;
  } | null;
}

const positive = (flag: string, raw: string) => {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} expects a positive integer, got "${raw}"`);
  return v;
};

/** The command line and the environment, validated: a bad flag or variable is an error naming it. */
export function parseCli(argv: string[], env: Env = process.env): CliRequest | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string", multiple: true },
      out: { type: "string" },
      "allow-vocab-mismatch": { type: "boolean" },
      trt: { type: "boolean" },
      "trt-runner": { type: "string" },
      "trt-max-batch": { type: "string" },
      "trt-opt": { type: "string" },
      "trt-workspace": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return "help";
  const settings = readSettings<ConvertEnvironment>(CONVERT_SETTINGS, env);
  const models = values.model?.map((spec) => {
    const at = spec.indexOf("=");
    const source = spec.slice(at + 1);
    const onnxAsGiven = source.startsWith(ONNX_AS_GIVEN);
    if (at <= 0 || source.length === (onnxAsGiven ? ONNX_AS_GIVEN.length : 0))
      throw new Error(`--model expects KEY=SOURCE or KEY=onnx:SOURCE, got "${spec}"`);
    const problem = modelKeyProblem(spec.slice(0, at));
    if (problem) throw new Error(`--model ${problem}`);
    return onnxAsGiven
      ? { key: spec.slice(0, at), source: source.slice(ONNX_AS_GIVEN.length), onnxAsGiven }
      : { key: spec.slice(0, at), source };
  });
  let trt: CliRequest["trt"] = null;
  if (values.trt) {
    const runner = values["trt-runner"] ?? TRT_FLAG_DEFAULTS.runner;
    if (runner !== "docker" && runner !== "local")
      throw new Error(`--trt-runner expects docker or local, got "${runner}"`);
    const opt = /^(\d+)x(\d+)$/.exec(values["trt-opt"] ?? TRT_FLAG_DEFAULTS.opt);
    if (!opt) throw new Error(`--trt-opt expects BATCHxSEQUENCE, e.g. 16x64, got "${values["trt-opt"]}"`);
    trt = {
      runner,
      maxBatch:
        values["trt-max-batch"] !== undefined
          ? positive("--trt-max-batch", values["trt-max-batch"])
          : settings.maxBatchSize,
      opt: { batch: positive("--trt-opt", opt[1]), sequence: positive("--trt-opt", opt[2]) },
      workspaceMiB: positive("--trt-workspace", values["trt-workspace"] ?? TRT_FLAG_DEFAULTS.workspaceMiB),
    };
  } else if (Object.keys(values).some((k) => k.startsWith("trt-"))) throw new Error("--trt-* options need --trt");
  return {
    models: models ?? null,
    outDir: resolve(values.out ?? settings.enginesDir),
    manifest: settings.manifest,
    hub: settings.hub,
    allowVocabMismatch: values["allow-vocab-mismatch"] === true,
    trt,
  };
}

/** Turns the request into local folders: local sources as they are, Hub sources downloaded and verified. */
export async function resolveSources(req: CliRequest, manifest: Manifest, hub: HubSettings): Promise<ModelSource[]> {
  const wanted: NonNullable<CliRequest["models"]> =
    req.models ?? manifest.models.map((m) => ({ key: m.key, source: `${m.hubId}@${m.revision}` }));
  const sources: ModelSource[] = [];
  const { allowVocabMismatch } = req;
  for (const { key, source, onnxAsGiven: flagged } of wanted) {
    const entry = manifest.models.find((m) => m.key === key);
    const onnxAsGiven = flagged || entry?.onnx === true;
    if (existsSync(source) && statSync(source).isDirectory()) {
      const dir = resolve(source);
      sources.push({
        key,
        dir,
        origin: { local: dir },
        labelFixes: entry?.labelFixes,
        onnxAsGiven,
        allowVocabMismatch,
        defaultFanOut: entry?.defaultFanOut,
      });
      continue;
    }
    const [hubId, revision = "main"] = source.split("@");
    if (!/^[\w.-]+\/[\w.-]+$/.test(hubId))
      throw new ConvertError(source, "neither a local folder nor org/name[@revision]");
    const repo = await downloadRepo(hubId, revision, hub, { onnx: onnxAsGiven });
    let baseTokenizerDir: string | undefined;
    if (entry?.tokenizerBase && !existsSync(join(repo.dir, "tokenizer.json")))
      baseTokenizerDir = (
        await downloadRepo(entry.tokenizerBase.hubId, entry.tokenizerBase.revision, hub, { tokenizerOnly: true })
      ).dir;
    sources.push({
      key,
      dir: repo.dir,
      origin: { hubId, revision, commit: repo.commit },
      labelFixes: entry?.labelFixes,
      baseTokenizerDir,
      onnxAsGiven,
      allowVocabMismatch,
      defaultFanOut: entry?.defaultFanOut,
    });
  }
  return sources;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  try {
    const req = parseCli(argv);
    if (req === "help") {
      console.log(USAGE);
      return 0;
    }
    const manifest = await loadManifest(req.manifest);
    const sources = await resolveSources(req, manifest, hubSettings(req.hub));
    const result = await convertModels(sources, { outDir: req.outDir, log: (m) => console.log(m) });
    console.log(`done: ${result.converted.length} converted, ${result.unchanged.length} unchanged → ${req.outDir}`);
    if (req.trt) {
      const trt = await buildTrtEngines({
        enginesDir: req.outDir,
        ...req.trt,
        keys: req.models?.map((m) => m.key),
        log: (m) => console.log(m),
      });
      if ("skipped" in trt) console.log(trt.skipped);
      else console.log(`TensorRT: ${trt.built.length} built, ${trt.unchanged.length} unchanged on ${trt.gpu.name}`);
    }
    return 0;
  } catch (e) {
    console.error(`convert failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) console.log(settingsMarkdown(CONVERT_SETTING_LIST));
