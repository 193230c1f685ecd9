import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type {
  ModelObservation,
  RequestTimings,
  ServiceCounters,
  ServiceObservation,
  TokenizerObservation,
  WorkerHealth,
} from "./service/api.ts";
import type { BatchListener } from "./service/observe.ts";

const PREFIX = "classifier_";
const seconds = (ms: number) => ms / 1000;

/** What the metrics read of the service: its state (observe()), and each batch as it is answered. */
export interface ObservedService {
  observe(): ServiceObservation;
  onBatchAnswered(fn: BatchListener): void;
}

/**
 * Prometheus metrics (prom-client), names prefixed and with units. Events (requests, batches) are
 * observed as they happen; state (queues, workers, the service's counters) is read at scrape time.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private service: ObservedService | null = null;
  // Bodies the HTTP layer ended unread: added to the service's own shed and client_closed counts.
  private readonly bodies = { shed: 0, clientClosed: 0 };

  private readonly requests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: "HTTP requests answered, by route and status",
    labelNames: ["route", "status"],
    registers: [this.registry],
  });
  private readonly requestDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: "Time from arrival to answer, by route",
    labelNames: ["route"],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly rows = new Counter({
    name: `${PREFIX}request_rows_total`,
    help: "Rows run through the models (inputs × models; zero-shot: sequences × labels), by route",
    labelNames: ["route"],
    registers: [this.registry],
  });
  private readonly phase = new Histogram({
    name: `${PREFIX}request_phase_duration_seconds`,
    help: "Per request through the models (/process, /zero-shot, /rerank): tokenization, queue wait and inference (the longest among the models)",
    labelNames: ["phase"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly inference = new Histogram({
    name: `${PREFIX}inference_duration_seconds`,
    help: "Per batch: time in the model's worker (padding + onnxruntime)",
    labelNames: ["model"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: `${PREFIX}batch_size`,
    help: "Rows per batch",
    labelNames: ["model"],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  private readonly batchTokens = new Histogram({
    name: `${PREFIX}batch_tokens`,
    help: "Tokens run per batch: longest row × rows when padded, the rows' tokens when packed",
    labelNames: ["model"],
    buckets: [16, 64, 256, 1024, 4096, 16384, 65536],
    registers: [this.registry],
  });

  // With batch_tokens' sum (padded tokens), the padding of any interval: Δreal ÷ Δpadded.
  private readonly realTokens = new Counter({
    name: `${PREFIX}batch_real_tokens_total`,
    help: "Real (not padding) tokens run, by model",
    labelNames: ["model"],
    registers: [this.registry],
  });
  // Which batches padded nothing: a model on the CPU or CUDA runs its packed graph (app/inference/provider-choice.ts usesPacked).
  private readonly packedBatches = new Counter({
    name: `${PREFIX}batches_packed_total`,
    help: "Batches run by the packed graph (rows concatenated, no padding: their padding efficiency is 1), by model",
    labelNames: ["model"],
    registers: [this.registry],
  });

  constructor() {
    processMetrics(this.registry);
    serviceCollectors(this.registry, () => this.service?.observe() ?? null, this.bodies);
  }

  /** Starts reading a loaded service: its state at each scrape, its batches as they are answered. */
  attach(service: ObservedService) {
    this.service = service;
    service.onBatchAnswered((model, b) => {
      this.inference.observe({ model }, seconds(b.runMs));
      this.batchSize.observe({ model }, b.rows);
      this.batchTokens.observe({ model }, b.paddedTokens);
      this.realTokens.inc({ model }, b.realTokens);
      if (b.packed) this.packedBatches.inc({ model });
    });
  }

  /** `route` is a bounded label (the HTTP layer's routeLabel), never a raw path. */
  request(route: string, status: number, durationMs: number, rows: number) {
    this.requests.inc({ route, status: String(status) });
    this.requestDuration.observe({ route }, seconds(durationMs));
    if (rows > 0) this.rows.inc({ route }, rows);
  }

  bodyEnded(outcome: "shed" | "client_closed") {
    if (outcome === "shed") this.bodies.shed++;
    else this.bodies.clientClosed++;
  }

  phases(t: RequestTimings) {
    this.phase.observe({ phase: "tokenization" }, seconds(t.tokenizationMs));
    this.phase.observe({ phase: "queue" }, seconds(t.queueMs));
    this.phase.observe({ phase: "inference" }, seconds(t.inferenceMs));
  }
}

/**
 * The process's own figures, read cheaply at scrape time. Not prom-client's default collectors:
 * under Bun their heap-space statistics walk the whole heap (20 ms for 200k objects here, 77–104 ms
 * in a loaded service), on the HTTP thread, at every scrape.
 */
function processMetrics(registry: Registry) {
  const registers = [registry];
  const started = Date.now() / 1000 - process.uptime();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  new Counter({
    name: `${PREFIX}process_cpu_seconds_total`,
    help: "User and system CPU time of the process",
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  new Gauge({
    name: `${PREFIX}process_resident_memory_bytes`,
    help: "Resident memory of the process",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: `${PREFIX}nodejs_heap_size_used_bytes`,
    help: "JavaScript heap in use (the HTTP thread's)",
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: `${PREFIX}process_start_time_seconds`,
    help: "When the process started (Unix time)",
    registers,
  }).set(started);
  new Gauge({
    name: `${PREFIX}nodejs_eventloop_lag_p99_seconds`,
    help: "99th percentile of the HTTP thread's event-loop delay since the last scrape",
    registers,
    collect() {
      this.set(loop.count > 0 ? loop.percentile(99) / 1e9 : 0);
      loop.reset();
    },
  });
}

type Observe = () => ServiceObservation | null;

/** The service's state, read at scrape time from its observation: per model, per worker, and its counters. */
/** Bodies the HTTP layer ended unread (ServiceMetrics.bodyEnded). */
type BodyCounts = { readonly shed: number; readonly clientClosed: number };

function serviceCollectors(registry: Registry, observe: Observe, bodies: BodyCounts) {
  const registers = [registry];
  const models = () => observe()?.models ?? [];
  // Per-model state; `undefined` leaves the model out (nothing to report yet).
  const perModel = (name: string, help: string, read: (m: ModelObservation) => number | undefined) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ["model"],
      registers,
      collect() {
        for (const m of models()) {
          const v = read(m);
          if (v !== undefined) this.set({ model: m.key }, v);
        }
      },
    });
  perModel("queue_depth", "Rows waiting for a batch, by model", (m) => m.queued);
  perModel(
    "padding_efficiency_ratio",
    "Real tokens ÷ padded tokens over all batches so far, by model (1 when every batch ran packed)",
    ({ batches: b }) => (b.paddedTokens ? b.realTokens / b.paddedTokens : undefined),
  );
  perModel("model_load_seconds", "Time to load and warm up each model", (m) => seconds(m.loadMs));
  new Gauge({
    name: `${PREFIX}model_info`,
    help: "1 per served model, with its execution provider, tokenizer family and source",
    labelNames: ["model", "provider", "family", "hub_id", "revision"],
    registers,
    collect() {
      // The provider can change (a restart that fell back): one series per model, never the old one too.
      this.reset();
      for (const m of models()) {
        const { hubId, commit, revision } = m.record.source;
        const labels = { model: m.key, provider: m.provider, family: m.family };
        this.set({ ...labels, hub_id: hubId ?? "", revision: commit ?? revision ?? "" }, 1);
      }
    },
  });
  workerCollectors(registry, () => models().flatMap((m) => m.workers));
  counterCollectors(registry, observe, bodies);
}

function workerCollectors(registry: Registry, workers: () => WorkerHealth[]) {
  new Counter({
    name: `${PREFIX}worker_restarts_total`,
    help: "Restarts of each worker after it died",
    labelNames: ["worker"],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of workers()) this.inc({ worker: w.name }, w.restarts);
    },
  });
  new Gauge({
    name: `${PREFIX}worker_up`,
    help: "1 while a worker is up, 0 while it starts or restarts",
    labelNames: ["worker"],
    registers: [registry],
    collect() {
      for (const w of workers()) this.set({ worker: w.name }, w.state === "up" ? 1 : 0);
    },
  });
}

/** The counts the service keeps, reported at each scrape as they stand (they only grow). */
function counterCollectors(registry: Registry, observe: Observe, bodies: BodyCounts) {
  new Gauge({
    name: `${PREFIX}pending_texts`,
    help: "Texts accepted and not yet answered (bounded by MAX_QUEUED_TEXTS)",
    registers: [registry],
    collect() {
      this.set(observe()?.pendingTexts ?? 0);
    },
  });
  const mirrored = (name: string, help: string, read: (s: ServiceObservation) => number, http = () => 0) =>
    new Counter({
      name: `${PREFIX}${name}`,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const s = observe();
        this.inc((s ? read(s) : 0) + http());
      },
    });
  const counter = (key: keyof ServiceCounters) => (s: ServiceObservation) => s.counters[key];
  mirrored(
    "shed_total",
    "Requests refused with 503 overloaded (queue full, expected wait, or MAX_BUFFERED_BODY_BYTES)",
    counter("shed"),
    () => bodies.shed,
  );
  mirrored("deadline_exceeded_total", "Requests answered 504 deadline_exceeded", counter("deadlineExceeded"));
  mirrored(
    "client_closed_total",
    "Requests whose client left before the answer (mid-body included)",
    counter("clientClosed"),
    () => bodies.clientClosed,
  );
  mirrored("cancelled_rows_total", "Queued rows removed unrun (deadline, client gone, another model failed)", (s) =>
    s.models.reduce((n, m) => n + m.batches.cancelled, 0),
  );
  tokenizerCollectors(registry, observe, mirrored);
}

/** The tokenizer processes: how many, their work, their memory, and what befell them. */
function tokenizerCollectors(
  registry: Registry,
  observe: Observe,
  mirrored: (name: string, help: string, read: (s: ServiceObservation) => number) => Counter,
) {
  const gauge = (name: string, help: string, read: (t: TokenizerObservation) => number) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers: [registry],
      collect() {
        const t = observe()?.tokenizers;
        if (t) this.set(read(t));
      },
    });
  gauge("tokenizer_processes", "Tokenizer processes up (TOKENIZER_PROCESSES when all are)", (t) => t.processes);
  gauge("tokenizer_queued_requests", "Requests waiting for a tokenizer process", (t) => t.queuedJobs);
  gauge("tokenizer_resident_memory_bytes", "Resident memory of the tokenizer processes, summed", (t) => t.rssBytes);
  mirrored(
    "tokenize_dropped_total",
    "Requests whose tokenization was dropped before it started (client gone, deadline passed)",
    (s) => s.tokenizers.droppedBeforeStart,
  );
  mirrored(
    "tokenizer_crashes_total",
    "Tokenizer processes that died (e.g. a tokenizer panicking on a text) and were started again",
    (s) => s.tokenizers.crashes,
  );
  mirrored(
    "tokenizer_recycled_total",
    "Tokenizer processes replaced because their memory grew past TOKENIZER_RECYCLE_RSS_PERCENT",
    (s) => s.tokenizers.recycled,
  );
}
