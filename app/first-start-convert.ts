/**
 * The first start with no engines yet: converts the manifest's models into ENGINES_DIR before the
 * service loads them. The one app file that may start convert, and only as a process of its own
 * (app/ never imports convert/): the same `bun run convert`, whose memory (checkpoints, a smoke-run
 * session) is returned before the models load.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { hasStore } from "../lib/store/index.ts";
import type { Config } from "./config.ts";
import type { LogFn } from "./log.ts";
import { convertFailure, foreignEnginesDir, type StartupFailure } from "./startup-failure.ts";

/** How the first-start convert ended: nothing to do or converted, stopped by a signal, or failed. */
export type FirstStart = { outcome: "ready" } | { outcome: "stopped"; signal: NodeJS.Signals } | StartupFailure;

/** Converts when ENGINES_DIR has no store and AUTO_CONVERT allows it; refuses a folder holding something else. */
export async function firstStartConvert(config: Config, log: LogFn): Promise<FirstStart> {
  if (hasStore(config.enginesDir) || !config.autoConvert) return { outcome: "ready" };
  const empty = !existsSync(config.enginesDir) || readdirSync(config.enginesDir).every((f) => f === "README.md");
  if (!empty) return foreignEnginesDir(config.enginesDir);
  log("no engines yet: converting the manifest's models (first start)", { enginesDir: config.enginesDir });
  const convert = Bun.spawn(
    [process.execPath, join(import.meta.dir, "..", "convert", "index.ts"), "--out", config.enginesDir],
    // Its progress lines are text: to stderr, so the service's stdout stays one JSON object per line.
    { stdout: 2, stderr: "inherit" },
  );
  // Stopped while converting: the conversion stops too (it writes under temporary names, so nothing half-done is kept).
  let stopSignal: NodeJS.Signals | null = null;
  const stopConvert = (signal: NodeJS.Signals) => {
    stopSignal = signal;
    convert.kill("SIGTERM");
  };
  process.once("SIGTERM", stopConvert);
  process.once("SIGINT", stopConvert);
  const code = await convert.exited;
  process.off("SIGTERM", stopConvert);
  process.off("SIGINT", stopConvert);
  // Asked to stop: not a failure of the conversion.
  if (stopSignal) return { outcome: "stopped", signal: stopSignal };
  return code === 0 ? { outcome: "ready" } : convertFailure(code, config.enginesDir);
}
