import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { INDEX_FILE, StoreError } from "../lib/store/index.ts";

/**
 * Why the service did not start, as one error line: the stage, what went wrong, the file to blame
 * (when there is one) and what the operator does about it. No stack: the failure is theirs to fix.
 */
export interface StartupFailure {
  stage: "configuration" | "engines" | "first-start convert" | "listen" | "loading models";
  error: string;
  file?: string;
  fix: string;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const convertCommand = (enginesDir: string) => `\`bun run convert --out ${enginesDir}\``;

/** Bun.serve's errors carry a code (EADDRINUSE, EADDRNOTAVAIL…) and a message that names neither HOST nor PORT. */
export function listenFailure(e: unknown, host: string, port: number): StartupFailure {
  const code = (e as { code?: unknown })?.code;
  switch (code) {
    case "EADDRINUSE":
      return {
        stage: "listen",
        error: `port ${port} on ${host} is already in use`,
        fix: "stop what listens there (another instance of this service?) or set PORT to a free port",
      };
    case "EACCES":
      return {
        stage: "listen",
        error: `listening on port ${port} needs privileges this process does not have`,
        fix: "set PORT to 1024 or above",
      };
    case "EADDRNOTAVAIL":
    case "EINVAL":
    case "ENOTFOUND":
      return {
        stage: "listen",
        error: `HOST=${host} is not an address of this machine (${code})`,
        fix: "set HOST to 0.0.0.0 (every interface), 127.0.0.1 (this machine only) or one of this machine's addresses",
      };
    default:
      return {
        stage: "listen",
        error: `cannot listen on ${host}:${port}: ${errorText(e)}`,
        fix: "check HOST and PORT",
      };
  }
}

/** The first path under the engines folder that an error's text names (as the worker's load errors do). */
function fileNamedIn(message: string, enginesDir: string): string | undefined {
  const at = message.indexOf(`${resolve(enginesDir)}/`);
  if (at < 0) return undefined;
  // The path ends at a space or a quote; punctuation after it ("…/model.onnx: has sha256…") is not part of it.
  return message
    .slice(at)
    .match(/^[^\s'"]+/)?.[0]
    .replace(/[:;,.)]+$/, "");
}

/** A failure while reading the engines store or loading a model, with the file to blame when one is known. */
export function loadFailure(e: unknown, enginesDir: string): StartupFailure {
  const error = errorText(e);
  const convert = convertCommand(enginesDir);
  if (e instanceof StoreError) {
    const fix = existsSync(e.file)
      ? `${convert} rewrites it (models whose files are all there are kept)`
      : `run ${convert} (or start with AUTO_CONVERT=true), or set ENGINES_DIR to the folder convert wrote`;
    return { stage: "engines", error, file: e.file, fix };
  }
  const path = (e as NodeJS.ErrnoException)?.code === "ENOENT" ? (e as NodeJS.ErrnoException).path : undefined;
  if (path)
    return { stage: "engines", error, file: path, fix: `run ${convert} again: it redoes a model with missing files` };
  const file = fileNamedIn(error, enginesDir);
  if (file) {
    // convert keeps a model whose files are all present, so a damaged one must go first.
    const rebuild = `if the file is damaged, delete ${dirname(file)} and run ${convert}`;
    return {
      stage: "loading models",
      error,
      file,
      fix: `${rebuild}; if a provider cannot run here, see EXECUTION_PROVIDERS`,
    };
  }
  return {
    stage: "loading models",
    error,
    fix: `the engines in ${enginesDir} may be damaged or from another version: run ${convert} again`,
  };
}

/** ENGINES_DIR holds something, but not what convert writes: converting into it could mix two things. */
export const foreignEnginesDir = (enginesDir: string): StartupFailure => ({
  stage: "engines",
  error: `${enginesDir} has files but no ${INDEX_FILE}`,
  file: resolve(enginesDir, INDEX_FILE),
  fix: `run ${convertCommand(enginesDir)}, or set ENGINES_DIR to an empty folder (the first start converts into it)`,
});

/** The first-start convert (a child process) exited non-zero; its own lines on stderr say what failed. */
export const convertFailure = (exitCode: number, enginesDir: string): StartupFailure => ({
  stage: "first-start convert",
  error: `\`bun run convert\` exited with code ${exitCode}`,
  fix:
    "its lines on stderr just above say what failed (the Hub, MANIFEST, a checkpoint): fix that and restart, or " +
    `run ${convertCommand(enginesDir)} yourself and start with AUTO_CONVERT=false`,
});
