import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { hasStore } from "../lib/store/index.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createLogger, type Logger, logFn } from "./log.ts";
import { ServiceMetrics } from "./metrics.ts";
import { createApp, listenOptions } from "./server.ts";
import { ClassifierService } from "./service/classifier.ts";
import {
  convertFailure,
  foreignEnginesDir,
  listenFailure,
  loadFailure,
  type StartupFailure,
} from "./startup-failure.ts";

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
const log = logFn(logger);

if (!hasStore(config.enginesDir) && config.autoConvert) {
  const empty = !existsSync(config.enginesDir) || readdirSync(config.enginesDir).every((f) => f === "README.md");
  if (!empty) fail(logger, foreignEnginesDir(config.enginesDir), 2);
  log("no engines yet: converting the manifest's models (first start)", { enginesDir: config.enginesDir });
  // A process of its own (app/ never imports convert/): the same `bun run convert`, and its memory
  // (checkpoints, a smoke-run session) is returned before the models load.
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
  if (stopSignal) {
    // Asked to stop: not a failure of the conversion.
    log("stopped during the first-start conversion", { signal: stopSignal });
    process.exit(1);
  }
  if (code !== 0) fail(logger, convertFailure(code, config.enginesDir));
}

let service: ClassifierService | null = null;
const metrics = new ServiceMetrics();
// Aborted at SIGTERM: bodies still arriving are answered 503 shutting_down at once, answers ask to close.
const stopping = new AbortController();
const app = createApp({ config, service: () => service, logger, metrics, stopping: stopping.signal });
// Listen first: liveness answers while the models load; readiness turns 200 when they are warm.
try {
  app.listen(listenOptions(config));
} catch (e) {
  fail(logger, listenFailure(e, config.host, config.port));
}
// The settings in force, once, so an operator can tell from the logs what this instance runs with.
const {
  host,
  enginesDir,
  batch,
  workersPerModel,
  intraOpThreads,
  executionProviders,
  maxQueuedTexts,
  requestTimeoutMs,
  drainTimeoutMs,
  logging,
} = config;
log("listening", {
  host,
  port: app.server?.port,
  enginesDir,
  batch,
  workersPerModel,
  intraOpThreads: intraOpThreads ?? "cores ÷ sessions",
  providers: executionProviders,
  maxQueuedTexts,
  requestTimeoutMs,
  drainTimeoutMs,
  logSample: logging.sample,
  logTexts: logging.texts,
});

try {
  service = await ClassifierService.start({ ...config, log });
  metrics.attach(service);
  log("ready", {
    models: service.models.map((m) => ({
      key: m.key,
      hubId: m.record.source.hubId,
      revision: m.record.source.commit ?? m.record.source.revision,
      provider: m.provider,
      providerNotes: m.providerNotes,
      limits: m.limits,
      family: m.family.id,
      loadMs: Math.round(m.loadMs),
    })),
    families: [...service.families.keys()],
  });
} catch (e) {
  fail(logger, loadFailure(e, config.enginesDir));
}

// Drain: readiness turns 503 and new requests get shutting_down (so a load balancer moves on),
// everything accepted is answered, then the listener and workers stop.
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, async () => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    log("draining", { signal, pendingTexts: service?.pendingTexts ?? 0, drainTimeoutMs: config.drainTimeoutMs });
    const drained = (await service?.drain(config.drainTimeoutMs)) ?? true;
    const unanswered = service?.pendingTexts ?? 0;
    await service?.stop(); // past the grace period, what still runs is answered 503 inference_unavailable
    await app.stop(); // closes the listener once the last responses are written
    log(drained ? "stopped" : "stopped before every request was answered", { pendingTexts: unanswered });
    process.exit(drained ? 0 : 1);
  });
