import { downloadFile, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
import { SingleBar } from "cli-progress";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { ConvertError } from "../errors.ts";
import { gitBlobSha1, sha256File } from "../hash.ts";
import { WEIGHT_FILES } from "../checkpoint/index.ts";
import { TOKENIZER_FILES } from "../tokenizer-family.ts";

export interface HubSettings {
  /** HF_ENDPOINT: a mirror or, in tests, a local server speaking the Hub's URL scheme. */
  endpoint: string;
  /** HF_TOKEN, for gated or private repositories. */
  token?: string;
  /** Where downloads are kept: `<cacheDir>/<org>/<name>/<commit>/<file>`. */
  cacheDir: string;
  /** Show a progress bar (on a terminal). */
  progress: boolean;
}

export function hubSettingsFromEnv(env = process.env): HubSettings {
  return {
    endpoint: (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, ""),
    token: env.HF_TOKEN || undefined,
    cacheDir: env.CONVERT_CACHE_DIR ?? join(process.cwd(), ".cache", "hub"),
    progress: Boolean(process.stderr.isTTY),
  };
}

export interface DownloadedRepo {
  dir: string;
  hubId: string;
  revision: string;
  /** The commit the revision resolved to. */
  commit: string;
  files: string[];
}

const CONFIG_FILES = ["config.json"];

/**
 * Downloads what conversion needs from one Hub repository at a pinned revision: config.json, the
 * weights (model.safetensors, else pytorch_model.bin) and the tokenizer files it has, or only the
 * tokenizer files (`tokenizerOnly`, for a base model). Each file is verified against the Hub's own
 * hash (sha256 for LFS files, the git blob id for small ones), resumed from a partial download when
 * one is there, and moved into the cache only once verified.
 */
export async function downloadRepo(
  hubId: string,
  revision: string,
  hub: HubSettings,
  opts: { tokenizerOnly?: boolean } = {},
): Promise<DownloadedRepo> {
  const creds = { hubUrl: hub.endpoint, ...(hub.token ? { accessToken: hub.token } : {}) };
  const where = `${hub.endpoint}/${hubId}@${revision}`;
  let commit: string;
  let entries: ListFileEntry[];
  try {
    const info = await modelInfo({ name: hubId, revision, additionalFields: ["sha"], ...creds });
    commit = (info as unknown as { sha?: string }).sha ?? revision;
    entries = [];
    for await (const e of listFiles({ repo: { type: "model", name: hubId }, revision: commit, ...creds }))
      entries.push(e);
  } catch (e) {
    throw new ConvertError(where, `cannot list the repository (${(e as Error).message})`);
  }
  const byPath = new Map(entries.filter((e) => e.type === "file").map((e) => [e.path, e]));
  const weights = WEIGHT_FILES.find((f) => byPath.has(f));
  if (!opts.tokenizerOnly && !weights)
    throw new ConvertError(where, `no weights (expected ${WEIGHT_FILES.join(" or ")})`);
  if (!opts.tokenizerOnly && !byPath.has("config.json")) throw new ConvertError(where, "no config.json");
  const wanted = [...(opts.tokenizerOnly ? [] : [...CONFIG_FILES, weights!]), ...TOKENIZER_FILES].filter((f) =>
    byPath.has(f),
  );

  const dir = join(hub.cacheDir, hubId, commit);
  mkdirSync(dir, { recursive: true });
  for (const path of wanted) await downloadVerified(hubId, commit, byPath.get(path)!, join(dir, path), hub, creds);
  return { dir, hubId, revision, commit, files: wanted };
}

async function downloadVerified(
  hubId: string,
  commit: string,
  entry: ListFileEntry,
  target: string,
  hub: HubSettings,
  creds: { hubUrl: string; accessToken?: string },
) {
  const expected = entry.lfs ? { algo: "sha256", value: entry.lfs.oid } : { algo: "git-sha1", value: entry.oid ?? "" };
  const hashOf = (file: string) => (expected.algo === "sha256" ? sha256File(file) : gitBlobSha1(readFileSync(file)));
  const size = entry.lfs?.size ?? entry.size;
  if (existsSync(target) && statSync(target).size === size && hashOf(target) === expected.value) return;

  const partial = `${target}.incomplete`;
  mkdirSync(dirname(target), { recursive: true });
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (have > size) rmSync(partial), (have = 0);
  const blob = await downloadFile({
    repo: { type: "model", name: hubId },
    path: entry.path,
    revision: commit,
    ...creds,
  });
  if (!blob) throw new ConvertError(`${hubId}/${entry.path}`, "listed by the Hub but not downloadable");
  if (blob.size !== size)
    throw new ConvertError(`${hubId}/${entry.path}`, `the Hub lists ${size} bytes but serves ${blob.size}`);

  const bar = hub.progress
    ? new SingleBar({ format: `${entry.path} [{bar}] {percentage}% {value}/{total} bytes`, hideCursor: true })
    : null;
  bar?.start(size, have);
  const fd = openSync(partial, have > 0 ? "a" : "w");
  try {
    // Resume: only the bytes not yet on disk are requested (a Range request under the hood).
    const reader = blob.slice(have).stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      writeSync(fd, value);
      have += value.byteLength;
      bar?.update(have);
    }
  } finally {
    closeSync(fd);
    bar?.stop();
  }
  const got = hashOf(partial);
  if (got !== expected.value) {
    rmSync(partial);
    throw new ConvertError(
      `${hubId}/${entry.path}`,
      `checksum mismatch: ${expected.algo} ${got}, the Hub says ${expected.value}; the partial download was removed`,
    );
  }
  renameSync(partial, target);
}
