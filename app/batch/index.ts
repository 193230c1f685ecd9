/**
 * `bun run classify`: the flags and settings (wrong ones end the run at once, exit 2), the job
 * (app/batch/job.ts), and the exit code: 0 every row classified, 3 some rows in the errors file,
 * 1 failed (what was committed stays: the same command continues it).
 */
import { ConfigError, loadConfig } from "../config.ts";
import { createLogger, logFn } from "../log.ts";
import { parseBatchArgs, USAGE, UsageError } from "./args.ts";
import { JobStartFailed, runBatchJob } from "./job.ts";
import { StateMismatch } from "./job-state.ts";

/** Finished, but some rows could not be classified: they are in the errors file. */
const EXIT_ROW_ERRORS = 3;

function usageExit(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

let args: ReturnType<typeof parseBatchArgs>;
try {
  args = parseBatchArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  usageExit(e.message);
}
if (args === null) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  usageExit(e.message);
}
const logger = createLogger(config.logging.level);

// Killed or stopped, what was committed stays: the same command continues from there.
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => {
    logger.warn({ signal }, "stopped: committed chunks are kept; run the same command to continue");
    process.exit(1);
  });

try {
  const outcome = await runBatchJob(args, config, logFn(logger), process.stderr.isTTY === true);
  process.exit(outcome.errors > 0 ? EXIT_ROW_ERRORS : 0);
} catch (e) {
  if (e instanceof UsageError || e instanceof StateMismatch) {
    logger.error({ error: e.message }, "the job did not start");
    process.exit(2);
  }
  if (e instanceof JobStartFailed) logger.error(e.failure, "the models did not start");
  // DuckDB quotes the offending line whole: a text of megabytes must not land in the log.
  else logger.error({ error: (e instanceof Error ? e.message : String(e)).slice(0, 2000) }, "the job failed");
  process.exit(1);
}
