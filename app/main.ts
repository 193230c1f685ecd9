/**
 * The service assembled, once: listen, load the models, attach the metrics, and the drain sequence.
 * The production entry (app/index.ts), the tests' server (testkit/server.ts) and the simulated T4
 * (bench/sim/serve.ts) all start it here, so they cannot drift apart; what tests and benchmarks
 * change travels in `seams`, never in the settings.
 */
import type { AnyElysia } from "elysia";
import type { Config } from "./config.ts";
import { createLogger, type Logger, logFn } from "./log.ts";
import { ServiceMetrics } from "./metrics.ts";
import { createApp, listenOptions } from "./server.ts";
import { ClassifierService, type LoadSeams } from "./service/classifier.ts";
import { listenFailure, loadFailure, type StartupFailure } from "./startup-failure.ts";

/** Test and benchmark seams: what the production entry never passes. */
export interface ServiceSeams extends LoadSeams {
  /** Routes of a harness mounted after the service's own (bench/sim's /sim/device). */
  plugins?: AnyElysia[];
}

/** A start that failed: the error line the operator reads (stage, error, file, fix). */
export class StartFailed extends Error {
  constructor(readonly failure: StartupFailure) {
    super(`${failure.stage}: ${failure.error}`);
  }
}

export interface RunningService {
  readonly url: string;
  readonly port: number;
  readonly service: ClassifierService;
  readonly metrics: ServiceMetrics;
  readonly logger: Logger;
  /**
   * The drain sequence: new requests and bodies still arriving are answered 503 shutting_down and
   * readiness turns 503 (so a load balancer moves on), everything accepted is answered within
   * DRAIN_TIMEOUT_MS, then the workers stop (past the grace period, what still runs is answered 503
   * inference_unavailable) and the listener closes once the last responses are written. True when
   * every accepted request was answered. `fields` go on the "draining" line (e.g. the signal).
   */
  drain(fields?: Record<string, unknown>): Promise<boolean>;
  /** Stops at once, waiting for nothing: the listener, then the workers (tests). */
  stop(): Promise<void>;
}

/** The settings in force, once, so an operator can tell from the logs what this instance runs with. */
function settingsInForce(config: Config, port: number | undefined) {
  const { host, enginesDir, batch, workersPerModel, intraOpThreads, executionProviders } = config;
  const { maxQueuedTexts, requestTimeoutMs, drainTimeoutMs, logging } = config;
  return {
    host,
    port,
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
  };
}

/** How long the last answers (the 503s of stop()) get to be written before the connections are cut. */
const LAST_ANSWERS_MS = 1000;

/**
 * Stops listening and waits for the answers being written, at most LAST_ANSWERS_MS: a connection
 * still open after it (a client not reading) is cut, so the exit never waits on a client.
 */
async function closeListener(app: AnyElysia) {
  const server = app.server;
  if (!server) return;
  const closed = app.stop();
  const late = await Promise.race([closed.then(() => false), Bun.sleep(LAST_ANSWERS_MS).then(() => true)]);
  if (late) await Promise.all([server.stop(true), closed]);
}

/** What each model runs on and how, once every one is warm. */
const readyFields = (service: ClassifierService) => ({
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
  families: service.tokenizers.families.map((f) => f.id),
});

/**
 * Listens first (liveness answers while the models load; readiness turns 200 once they are warm),
 * then loads the models and attaches the metrics. A failed listen or load throws StartFailed, with
 * nothing left listening or running.
 */
export async function startService(config: Config, seams: ServiceSeams = {}): Promise<RunningService> {
  const logger = createLogger(config.logging.level);
  const log = logFn(logger);
  let service: ClassifierService | null = null;
  const metrics = new ServiceMetrics();
  // Aborted when the drain starts: bodies still arriving are answered 503 shutting_down at once, answers ask to close.
  const stopping = new AbortController();
  const app = (seams.plugins ?? []).reduce(
    (app, plugin) => app.use(plugin),
    createApp({ config, service: () => service, logger, metrics, stopping: stopping.signal }),
  );
  try {
    app.listen(listenOptions(config));
  } catch (e) {
    throw new StartFailed(listenFailure(e, config.host, config.port));
  }
  // Elysia listens synchronously on Bun: once listen() returns, the TCP server and its port exist.
  const port = app.server?.port;
  if (port === undefined) throw new Error("listen() returned without a server bound to a TCP port");
  log("listening", settingsInForce(config, port));
  try {
    service = await ClassifierService.start({ ...config, log }, seams);
  } catch (e) {
    await app.stop();
    throw new StartFailed(loadFailure(e, config.enginesDir));
  }
  const started = service;
  metrics.attach(started);
  log("ready", readyFields(started));

  const server = app.server;
  let drained: Promise<boolean> | null = null;
  const drain = async (fields: Record<string, unknown>) => {
    stopping.abort();
    // Keep-alive connections between requests end now; the others end after their answer (Connection: close).
    server?.closeIdleConnections();
    log("draining", { ...fields, pendingTexts: started.pendingTexts, drainTimeoutMs: config.drainTimeoutMs });
    const answered = await started.drain(config.drainTimeoutMs);
    const unanswered = started.pendingTexts;
    // Answers every request still pending 503 at once, those waiting on native tokenization included.
    await started.stop();
    await closeListener(app);
    log(answered ? "stopped" : "stopped before every request was answered", { pendingTexts: unanswered });
    return answered;
  };
  return {
    url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
    port,
    service: started,
    metrics,
    logger,
    // A second call (SIGINT after SIGTERM) waits for the same drain.
    drain: (fields = {}) => (drained ??= drain(fields)),
    stop: async () => {
      await app.stop();
      await started.stop();
    },
  };
}
