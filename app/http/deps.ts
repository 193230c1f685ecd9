import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ClassifierApi, RequestTimings } from "../service/api.ts";
import type { BodyBudget, BodyOutcomes } from "./body.ts";

/** The settings the HTTP layer reads, every one required: their defaults are SETTINGS' (tests build it with loadConfig). */
export type HttpConfig = Pick<
  Config,
  | "maxBodyBytes"
  | "maxBufferedBodyBytes"
  | "maxTextsPerRequest"
  | "requestTimeoutMs"
  | "bodyTimeoutMs"
  | "logging"
  | "maxCandidateLabels"
  | "maxQueuedTexts"
>;

/** The service once its models are loaded; null while starting. */
export type ServiceSource = () => ClassifierApi | null;

/** What the HTTP layer records and serves of the metrics (ServiceMetrics implements it). */
export interface HttpMetrics extends BodyOutcomes {
  /** `route` is a label from routeLabel(), never a raw path; `rows` it ran through the models. */
  request(route: string, status: number, durationMs: number, rows: number): void;
  phases(timings: RequestTimings): void;
  readonly registry: { readonly contentType: string; metrics(): Promise<string> };
}

export interface AppDeps {
  config: HttpConfig;
  service: ServiceSource;
  logger?: Logger;
  metrics?: HttpMetrics;
  /** Bytes of request bodies buffered at once, across requests (MAX_BUFFERED_BODY_BYTES). */
  bodyBudget?: BodyBudget;
  /** Aborted when the instance starts draining (SIGTERM): bodies still arriving are answered 503 at once. */
  stopping?: AbortSignal;
}
