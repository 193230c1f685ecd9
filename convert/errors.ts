import { readFileSync } from "node:fs";

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

/** Reads a JSON file; a malformed one is a ConvertError naming it. */
export function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConvertError(path, `not valid JSON (${(e as Error).message})`);
  }
}
