import { readFileSync, type Stats, statSync } from "node:fs";

/** A conversion failure the user can act on: it names the file (or model) at fault. */
export class ConvertError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "ConvertError";
  }
}

/**
 * Refuses a path that is not a regular file (a FIFO, a device, a socket, a folder) by name, before anything
 * opens it: opening a FIFO blocks until someone writes, /dev/zero never ends, and mmap's error on either
 * names no file. Symbolic links are followed (the Hub's cache links each file to its blob).
 */
export function requireRegularFile(path: string): Stats {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (e) {
    throw new ConvertError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!stat.isFile()) throw new ConvertError(path, `is ${fileKind(stat)}, not a regular file: refused unopened`);
  return stat;
}

function fileKind(stat: Stats): string {
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  if (stat.isDirectory()) return "a folder";
  return "not a file";
}

/**
 * The largest JSON file read whole: config.json and tokenizer_config.json are kilobytes, and tokenizer.json,
 * the largest (~35 MB for 256k-piece vocabularies), has the same limit (tokenizer/file-limits.ts).
 */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Reads a JSON file; a malformed, oversized or special one is a ConvertError naming it. */
export function readJsonFile(path: string): unknown {
  const { size } = requireRegularFile(path);
  if (size > MAX_JSON_BYTES)
    throw new ConvertError(path, `is ${size} bytes, more than ${MAX_JSON_BYTES}: refused unread`);
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConvertError(path, `not valid JSON (${(e as Error).message})`);
  }
}
