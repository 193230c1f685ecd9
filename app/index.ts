/**
 * `bun run start`: the settings (an error in them ends the start at once), the first-start convert,
 * the service (app/main.ts) and the signals that drain it. Nothing else.
 */
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { firstStartConvert } from "./first-start-convert.ts";
import { createLogger, type Logger, logFn } from "./log.ts";
import { type RunningService, StartFailed, startService } from "./main.ts";
import type { StartupFailure } from "./startup-failure.ts";

/** A failed start: one error line (stage, error, file, fix), no stack, and a non-zero exit. */
function fail(logger: Logger, failure: StartupFailure, exitCode = 1): never {
  logger.error(failure, "start-up failed");
  process.exit(exitCode);
}

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  // LOG_LEVEL is not read yet; an error line passes every level but silent anyway.
  const fix = `set ${e.variable} to a value it accepts (README: Configuration)`;
  fail(createLogger("info"), { stage: "configuration", error: e.message, fix }, 2);
}

const logger = createLogger(config.logging.level);
const firstStart = await firstStartConvert(config, logFn(logger));
if ("stage" in firstStart) fail(logger, firstStart, firstStart.stage === "engines" ? 2 : 1);
if (firstStart.outcome === "stopped") {
  logger.info({ signal: firstStart.signal }, "stopped during the first-start conversion");
  process.exit(1);
}

let running: RunningService;
try {
  running = await startService(config);
} catch (e) {
  if (!(e instanceof StartFailed)) throw e;
  fail(logger, e.failure);
}

for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, async () => process.exit((await running.drain({ signal })) ? 0 : 1));
