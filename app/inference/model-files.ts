/**
 * A model's files checked against its engine.json before a worker loads them: the graph file by its
 * sha256, the external data file by the ranges the graph reads from it and, by default, each weight's
 * bytes by the sha256 recorded at conversion. Runs in the worker (it blocks only the thread that
 * is about to load), and again at every restart, so a worker never loads bytes that were not proven.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import { externalRanges, type ExternalRange } from "../../lib/onnx/external-data.ts";
import type { ModelRecord } from "../../lib/store/index.ts";
import type { WeightCheck } from "../config.ts";

/** What a worker checks before it loads (LoadOptions.files). */
export interface ModelFilesCheck {
  /** The model's folder. */
  dir: string;
  mode: WeightCheck;
  record: Pick<ModelRecord, "onnx" | "weights" | "weightProof" | "files">;
}

export interface FilesVerified {
  mode: WeightCheck;
  ms: number;
  bytesHashed: number;
}

const REMEDY =
  "the engines folder changed after it was converted, or was copied incompletely: convert again " +
  "(`bun run convert`) or restore the folder";

/** A model file that is not what engine.json says: names the file and what to do. */
export class ModelFileMismatch extends Error {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}; ${REMEDY}`);
    this.name = "ModelFileMismatch";
  }
}

/** Bytes of a file whose sha256 must be `sha256`. */
export interface HashRead {
  what: string;
  offset: number;
  length: number;
  sha256: string;
}

const short = (hash: string) => hash.slice(0, 12);

/**
 * The checks on the external data file that need no reading (pure): every range the graph reads
 * lies in the record's data file and within its size, and each weight engine.json proves is there
 * with its shape; then the reads to hash, in file order: each weight's range when the record proves
 * the weights one by one, else the whole file when the record has its sha256 (a model served as given).
 */
export function dataFileReads(
  check: Pick<ModelFilesCheck, "mode" | "record">,
  ranges: ExternalRange[],
  files: { model: string; data: string; dataBytes: number },
): HashRead[] {
  const { record, mode } = check;
  const dataName = record.onnx.data;
  if (!dataName)
    throw new Error(`${record.onnx.model}: engine.json names no data file, so there are no weights to read`);
  for (const r of ranges)
    if (r.location !== dataName)
      throw new ModelFileMismatch(files.model, `reads ${r.name} from ${r.location}, engine.json names ${dataName}`);
  const end = Math.max(0, ...ranges.map((r) => r.offset + r.length));
  if (files.dataBytes < end)
    throw new ModelFileMismatch(
      files.data,
      `is ${files.dataBytes} bytes, ${basename(files.model)} reads weights up to byte ${end} (a truncated copy?)`,
    );
  if (record.weightProof !== "byte-identical") {
    const whole = record.files[dataName];
    return mode === "sha256" && whole ? [{ what: "the file", offset: 0, length: files.dataBytes, sha256: whole }] : [];
  }
  const byName = new Map(ranges.map((r) => [r.name, r]));
  const proven = new Set(record.weights.map((w) => w.name));
  const unproven = ranges.find((r) => !proven.has(r.name));
  if (unproven)
    throw new ModelFileMismatch(files.model, `holds weight ${unproven.name}, which engine.json has no hash of`);
  const reads = record.weights.map((w) => {
    const r = byName.get(w.name);
    if (!r) throw new ModelFileMismatch(files.model, `has no external weight ${w.name}, which engine.json proves`);
    if (r.dims.join("x") !== w.shape.join("x"))
      throw new ModelFileMismatch(files.model, `has ${w.name} of shape [${r.dims}], engine.json [${w.shape}]`);
    return { what: `weight ${w.name}`, offset: r.offset, length: r.length, sha256: w.onnxSha256 };
  });
  return mode === "sha256" ? reads.sort((a, b) => a.offset - b.offset) : [];
}

const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * sha256 of bytes [offset, offset + length) of an open file, read in chunks: read rather than
 * memory-mapped, so a file cut short under the check is an error, not a bus error, and the heap
 * never holds a whole weights file.
 */
function hashRange(fd: number, file: string, offset: number, length: number, chunk: Uint8Array): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (let done = 0; done < length; ) {
    const n = readSync(fd, chunk, 0, Math.min(chunk.byteLength, length - done), offset + done);
    if (n === 0) throw new ModelFileMismatch(file, `ends at byte ${offset + done}, before the weights it should hold`);
    hasher.update(chunk.subarray(0, n));
    done += n;
  }
  return hasher.digest("hex");
}

/** `what`: the part of the file hashed; empty for the whole file. */
function expectHash(file: string, what: string, actual: string, recorded: string) {
  if (actual === recorded) return;
  const hashes = `sha256 ${short(actual)}…, engine.json records ${short(recorded)}…`;
  throw new ModelFileMismatch(file, what ? `${what} has ${hashes}` : `has ${hashes}`);
}

function open(file: string): number {
  try {
    return openSync(file, "r");
  } catch (e) {
    throw new ModelFileMismatch(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** One graph file of the record: hashed whole (it says where the weights are), then where it reads them from. */
function readGraph(
  dir: string,
  file: string,
  sha256: string,
): { path: string; bytes: number; ranges: ExternalRange[] } {
  const path = join(dir, file);
  const fd = open(path);
  let graph: Buffer;
  try {
    graph = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  expectHash(path, "", new Bun.CryptoHasher("sha256").update(graph).digest("hex"), sha256);
  try {
    return { path, bytes: graph.byteLength, ranges: externalRanges(graph) };
  } catch (e) {
    throw new ModelFileMismatch(path, `is not a readable ONNX model (${(e as Error).message})`);
  }
}

/** A model brought as one file, graph and weights: hashed whole, or only found. */
function verifySelfContained(check: ModelFilesCheck, chunk: Uint8Array): number {
  const model = join(check.dir, check.record.onnx.model);
  const fd = open(model);
  try {
    if (check.mode !== "sha256") return 0;
    const bytes = fstatSync(fd).size;
    expectHash(model, "", hashRange(fd, model, 0, bytes, chunk), check.record.onnx.modelSha256);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks a model's files against its record; throws ModelFileMismatch naming the first file that
 * differs. Every graph it records (the padded one, the packed one beside it) is hashed and its
 * weights' ranges checked, whichever of them the worker loads; a range both read is hashed once.
 */
export function verifyModelFiles(check: ModelFilesCheck): FilesVerified {
  const started = performance.now();
  const { dir, mode, record } = check;
  const chunk = new Uint8Array(CHUNK_BYTES);
  if (!record.onnx.data)
    return { mode, ms: performance.now() - started, bytesHashed: verifySelfContained(check, chunk) };
  const { packed } = record.onnx;
  const graphs = [
    readGraph(dir, record.onnx.model, record.onnx.modelSha256),
    ...(packed ? [readGraph(dir, packed.model, packed.modelSha256)] : []),
  ];
  let bytesHashed = graphs.reduce((n, g) => n + g.bytes, 0);
  const data = join(dir, record.onnx.data);
  const dataFd = open(data);
  try {
    const dataBytes = fstatSync(dataFd).size;
    const reads = new Map<string, HashRead>();
    for (const g of graphs)
      for (const r of dataFileReads(check, g.ranges, { model: g.path, data, dataBytes }))
        reads.set(`${r.offset}+${r.length}:${r.sha256}`, r);
    for (const r of [...reads.values()].sort((a, b) => a.offset - b.offset)) {
      expectHash(
        data,
        `${r.what} (bytes ${r.offset}–${r.offset + r.length})`,
        hashRange(dataFd, data, r.offset, r.length, chunk),
        r.sha256,
      );
      bytesHashed += r.length;
    }
  } finally {
    closeSync(dataFd);
  }
  return { mode, ms: performance.now() - started, bytesHashed };
}
