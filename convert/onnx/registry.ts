/** The architectures convert builds, keyed by config.architectures (model_type as a fallback). */
import { ConvertError } from "../errors.ts";
import { bert } from "./archs/bert.ts";
import { debertaV2 } from "./archs/deberta-v2.ts";
import { distilbert } from "./archs/distilbert.ts";
import { electra } from "./archs/electra.ts";
import { modernbert } from "./archs/modernbert.ts";
import { roberta } from "./archs/roberta.ts";
import type { Architecture } from "./archs/types.ts";
import { ConfigReader, type ClassifierConfig, type RawConfig } from "./config.ts";

export type { Architecture } from "./archs/types.ts";
export type { ClassifierConfig } from "./config.ts";

const ARCHITECTURES: readonly Architecture[] = [roberta, bert, distilbert, debertaV2, electra, modernbert];
const SUPPORTED_ARCHITECTURES = ARCHITECTURES.flatMap((a) => a.names);

/** The architecture convert builds for a config.json (config.architectures first, model_type only when absent), if any. */
export function findArchitecture(raw: RawConfig): { arch: Architecture; name: string } | undefined {
  const names = Array.isArray(raw.architectures) ? (raw.architectures as string[]) : [];
  for (const name of names) {
    const arch = ARCHITECTURES.find((a) => a.names.includes(name));
    if (arch) return { arch, name };
  }
  if (names.length > 0 || typeof raw.model_type !== "string") return undefined;
  const modelType = raw.model_type;
  const arch = ARCHITECTURES.find((a) => a.modelTypes.includes(modelType));
  return arch && { arch, name: arch.names[arch.modelTypes.indexOf(modelType)] ?? arch.names[0] };
}

/** The architecture of a config.json and its validated configuration; anything else fails with what to do instead. */
export function readClassifierConfig(file: string, raw: RawConfig): { arch: Architecture; config: ClassifierConfig } {
  const found = findArchitecture(raw);
  if (!found)
    throw new ConvertError(
      file,
      `unsupported architecture ${JSON.stringify(raw.architectures ?? raw.model_type ?? null)}: convert builds ` +
        `${SUPPORTED_ARCHITECTURES.join(", ")}. For any other, export the model to ONNX (e.g. with optimum) and serve ` +
        "it as it is: bun run convert --model KEY=onnx:DIR (README, Serving other models)",
    );
  return { arch: found.arch, config: found.arch.parseConfig(new ConfigReader(file, raw), found.name) };
}
