/**
 * The model set the service answers with. Declarative on purpose: another team serves its own
 * classifiers by writing a file of this shape (MANIFEST=path/to/models.json) and running convert.
 */
import { modelKeyProblem } from "../lib/store/index.ts";

export interface LabelFixes {
  /** Upper-case every label (cardiffnlp publishes "negative", clients expect "NEGATIVE"). */
  upperCase?: boolean;
  /** Replace published label names, after upper-casing. */
  rename?: Record<string, string>;
}

export interface ManifestModel {
  /** Response key, e.g. "cardiffnlp". */
  key: string;
  /** Hugging Face repository id. */
  hubId: string;
  /** A commit hash; "main" only where no hash is known (see `revisionNote`). */
  revision: string;
  revisionNote?: string;
  labelFixes?: LabelFixes;
  /**
   * Where a family's tokenizer.json comes from when the model ships none: the base model it was
   * fine-tuned from. Convert proves the vocabularies equal before using it.
   */
  tokenizerBase?: { hubId: string; revision: string };
  /**
   * The repository holds a model.onnx exported elsewhere (e.g. by optimum), served as it is: for
   * architectures convert does not build. Its weights cannot be proven against a checkpoint.
   */
  onnx?: boolean;
  /**
   * false: the model answers /process only when `?models=` names it, and serves /zero-shot and
   * /rerank (an NLI model or a reranker beside classifiers). Default true: every model answers.
   */
  defaultFanOut?: boolean;
}

export interface Manifest {
  models: ManifestModel[];
}

const XLMR_BASE = { hubId: "FacebookAI/xlm-roberta-base", revision: "main" };
const ROBERTA_BASE = { hubId: "FacebookAI/roberta-base", revision: "main" };

export const DEFAULT_MANIFEST: Manifest = {
  models: [
    {
      key: "cardiffnlp",
      hubId: "cardiffnlp/twitter-xlm-roberta-base-sentiment",
      // "Add reference XLM-T": after d38ef7b, which set the lower-case negative/neutral/positive labels.
      revision: "43e6b8e52e474cd2c792e12dd578cfbd8cb43351",
      labelFixes: { upperCase: true },
      tokenizerBase: XLMR_BASE,
    },
    {
      key: "ivanlau",
      hubId: "ivanlau/language-detection-fine-tuned-on-xlm-roberta-base",
      revision: "161034c57c138d8a13926390c262faf4001d31c3",
      // id 29 is published as "Mangolian"; clients expect "Mongolian". "Ukranian" stays as published.
      labelFixes: { rename: { Mangolian: "Mongolian" } },
      tokenizerBase: XLMR_BASE,
    },
    {
      key: "svalabs",
      hubId: "svalabs/twitter-xlm-roberta-crypto-spam",
      revision: "main",
      revisionNote:
        'main\'s head is 101aee1 ("add model"); its full hash is not known here. The resolved commit is recorded in engine.json.',
      tokenizerBase: XLMR_BASE,
    },
    {
      key: "EIStakovskii",
      hubId: "EIStakovskii/xlm_roberta_base_multilingual_toxicity_classifier_plus",
      revision: "main",
      revisionNote:
        "no commit hash known here; the resolved commit is recorded in engine.json. No id2label: answers LABEL_0 (not toxic) / LABEL_1 (toxic).",
      tokenizerBase: XLMR_BASE,
    },
    {
      key: "jy46604790",
      hubId: "jy46604790/Fake-News-Bert-Detect",
      revision: "main",
      revisionNote:
        "no commit hash known here; the resolved commit is recorded in engine.json. No id2label: answers LABEL_0 (fake) / LABEL_1 (real).",
      tokenizerBase: ROBERTA_BASE,
    },
  ],
};

/** Published labels → the labels the service answers with. */
export function applyLabelFixes(labels: string[], fixes: LabelFixes = {}): string[] {
  return labels.map((l) => {
    const cased = fixes.upperCase ? l.toUpperCase() : l;
    return fixes.rename?.[cased] ?? cased;
  });
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Validates a manifest read from a file; errors name the entry and the field. */
export function parseManifest(source: string, raw: unknown): Manifest {
  const fail = (why: string): never => {
    throw new Error(`${source}: ${why}`);
  };
  const models = (raw as Manifest)?.models;
  if (!Array.isArray(models) || models.length === 0) fail("expected { models: [...] } with at least one model");
  const seen = new Set<string>();
  for (const [i, m] of models.entries()) {
    const problem = typeof m?.key === "string" ? modelKeyProblem(m.key) : "missing";
    if (problem) fail(`models[${i}].key: ${problem}`);
    if (seen.has(m.key)) fail(`models[${i}].key "${m.key}" is repeated`);
    seen.add(m.key);
    if (typeof m.hubId !== "string" || !HUB_ID.test(m.hubId)) fail(`models[${i}].hubId must be "org/name"`);
    if (typeof m.revision !== "string" || m.revision.length === 0)
      fail(`models[${i}].revision must be a commit hash or branch`);
    if (m.onnx !== undefined && typeof m.onnx !== "boolean")
      fail(`models[${i}].onnx must be true (a model.onnx served as it is) or false`);
    if (m.defaultFanOut !== undefined && typeof m.defaultFanOut !== "boolean")
      fail(`models[${i}].defaultFanOut must be true (answers a bare /process) or false (only when named)`);
  }
  if (models.every((m) => m.defaultFanOut === false))
    fail("every model has defaultFanOut false: at least one must answer a /process that names no models");
  return { models };
}

/** The manifest at `path` (MANIFEST, read by convert/cli.ts), or the built-in one when there is none. */
export async function loadManifest(path: string | null): Promise<Manifest> {
  if (!path) return DEFAULT_MANIFEST;
  return parseManifest(path, await Bun.file(path).json());
}
