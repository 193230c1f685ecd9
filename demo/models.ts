/**
 * The demo's models: the five manifest keys as tiny random-weight checkpoints of their architecture
 * (XLM-R for four, RoBERTa for jy46604790), with the labels the real ones publish and the manifest's
 * label fixes, and a tokenizer of their kind (tokenizers.ts); converted by the real converter.
 */
import { join } from "node:path";
import { DEFAULT_MANIFEST } from "../convert/manifest.ts";
import { convertModels, type ModelSource } from "../convert/pipeline.ts";
import { TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { writeDemoTokenizer } from "./tokenizers.ts";

/** Each key's id2label as published on the Hub (none: LABEL_0/LABEL_1, as EIStakovskii and jy46604790 publish). */
const PUBLISHED_LABELS: Record<string, string[] | undefined> = {
  cardiffnlp: ["negative", "neutral", "positive"],
  ivanlau: [
    ...["Arabic", "Basque", "Breton", "Catalan", "Chinese_China", "Chinese_Hongkong", "Chinese_Taiwan", "Chuvash"],
    ...["Czech", "Dhivehi", "Dutch", "English", "Esperanto", "Estonian", "French", "Frisian", "Georgian", "German"],
    ...["Greek", "Hakha_Chin", "Indonesian", "Interlingua", "Italian", "Japanese", "Kabyle", "Kinyarwanda", "Kyrgyz"],
    ...["Latvian", "Maltese", "Mangolian", "Persian", "Polish", "Portuguese", "Romanian", "Romansh_Sursilvan"],
    ...["Russian", "Sakha", "Slovenian", "Spanish", "Swedish", "Tamil", "Tatar", "Turkish", "Ukranian", "Welsh"],
  ],
  svalabs: ["HAM", "SPAM"],
  EIStakovskii: undefined,
  jy46604790: undefined,
};

/** Writes the five sources under `dir` (the same bytes every time: fixed seeds). */
function demoSources(dir: string): ModelSource[] {
  return DEFAULT_MANIFEST.models.map((m, i) => {
    const architecture = m.key === "jy46604790" ? "roberta" : "xlmr";
    const labels = PUBLISHED_LABELS[m.key];
    const modelDir = join(dir, m.key);
    writeRandomCheckpoint(modelDir, { ...TINY[architecture], labels, numLabels: labels ? undefined : 2, seed: 1 + i });
    writeDemoTokenizer(modelDir, architecture);
    return { key: m.key, dir: modelDir, origin: { local: modelDir }, labelFixes: m.labelFixes };
  });
}

/**
 * The demo's engines folder, `root/engines`, converted from `root/sources`: a second run finds the
 * same sources and keeps the engines. Returns the engines folder.
 */
export async function prepareDemo(root: string, log: (message: string) => void = () => {}): Promise<string> {
  const engines = join(root, "engines");
  await convertModels(demoSources(join(root, "sources")), { outDir: engines, log });
  return engines;
}
