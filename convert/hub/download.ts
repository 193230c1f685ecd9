import { downloadFile, listFiles, modelInfo, type ListFileEntry } from "@huggingface/hub";
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
import { TOKENIZER_FILES } from "../tokenizer/tokenizer-family.ts";
import { GIVEN_DATA_FILES, GIVEN_MODEL_FILE } from "../source/onnx-as-given.ts";
import { startProgress } from "./progress.ts";
import { withRetries } from "./retry.ts";
import type { HubSettings } from "./settings.ts";
import { HubRequestError } from "./transport.ts";

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
 * tokenizer files (`tokenizerOnly`, for a base model); for a model served as ONNX (`onnx`), model.onnx
 * and its external data in place of the weights. Each file is verified against the Hub's own
 * hash (sha256 for LFS files, the git blob id for small ones), resumed from a partial download when
 * one is there, and moved into the cache only once verified. Every request has connect and read
 * timeouts; transient failures are retried with back-off, a retried download resuming where it stopped.
 */
export async function downloadRepo(
  hubId: string,
  revision: string,
  hub: HubSettings,
  opts: { tokenizerOnly?: boolean; onnx?: boolean } = {},
): Promise<DownloadedRepo> {
  const creds = { hubUrl: hub.endpoint, ...(hub.token ? { accessToken: hub.token } : {}) };
  const where = `${hub.endpoint}/${hubId}@${revision}`;
  hub.log?.(`${hubId}@${revision}: fetching from ${hub.endpoint}`);
  const listing = { subject: where, action: "cannot list the repository", target: "repository" } as const;
  const { commit, entries } = await withRetries(listing, hub, async (fetch) => {
    const info = await modelInfo({ name: hubId, revision, additionalFields: ["sha"], ...creds, fetch });
    const commit = (info as unknown as { sha?: string }).sha ?? revision;
    const entries: ListFileEntry[] = [];
    for await (const e of listFiles({ repo: { type: "model", name: hubId }, revision: commit, ...creds, fetch }))
      entries.push(e);
    return { commit, entries };
  });
  const byPath = new Map(entries.filter((e) => e.type === "file").map((e) => [e.path, e]));
  const weightFiles = opts.onnx ? [GIVEN_MODEL_FILE] : WEIGHT_FILES;
  const weights = weightFiles.find((f) => byPath.has(f));
  let model: string[] = [];
  if (!opts.tokenizerOnly) {
    if (!weights) throw new ConvertError(where, `no weights (expected ${weightFiles.join(" or ")})`);
    if (!byPath.has("config.json")) throw new ConvertError(where, "no config.json");
    model = [...CONFIG_FILES, weights, ...(opts.onnx ? GIVEN_DATA_FILES : [])];
  }
  const wanted = [...model, ...TOKENIZER_FILES].flatMap((f) => byPath.get(f) ?? []);

  const dir = join(hub.cacheDir, hubId, commit);
  mkdirSync(dir, { recursive: true });
  for (const entry of wanted) await downloadVerified(hubId, commit, entry, join(dir, entry.path), hub, creds);
  return { dir, hubId, revision, commit, files: wanted.map((e) => e.path) };
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

  const file = `${hubId}/${entry.path}`;
  const partial = `${target}.incomplete`;
  mkdirSync(dirname(target), { recursive: true });
  await withRetries({ subject: file, action: "download failed", target: "file" }, hub, async (fetch) => {
    // Each attempt starts where the last one stopped: what is on disk is kept.
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > size) {
      rmSync(partial);
      have = 0;
    }
    if (have === size) return;
    const blob = await downloadFile({
      repo: { type: "model", name: hubId },
      path: entry.path,
      revision: commit,
      ...creds,
      fetch,
    });
    if (!blob) throw new HubRequestError({ kind: "status", status: 404, detail: `EntryNotFound at ${commit}` });
    if (blob.size !== size) throw new ConvertError(file, `the Hub lists ${size} bytes but serves ${blob.size}`);

    const progress = startProgress(file, size, have, hub);
    const fd = openSync(partial, have > 0 ? "a" : "w");
    try {
      // Resume: only the bytes not yet on disk are requested (a Range request under the hood).
      const reader = blob.slice(have).stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        writeSync(fd, value);
        have += value.byteLength;
        progress.update(have);
      }
    } finally {
      closeSync(fd);
      progress.stop();
    }
    // A connection closed early ends the body without an error: the next attempt resumes from here.
    if (have < size)
      throw new HubRequestError({ kind: "network", detail: `the connection closed after ${have} of ${size} bytes` });
  });

  const got = hashOf(partial);
  if (got !== expected.value) {
    rmSync(partial);
    throw new ConvertError(
      file,
      `checksum mismatch: ${expected.algo} ${got}, the Hub says ${expected.value}; the partial download was removed`,
    );
  }
  renameSync(partial, target);
}
