import type { ExecutionProvider } from "../config.ts";
import { ApiError } from "../errors.ts";
import type { FromWorker, RowRef, ToWorker } from "./protocol.ts";

export interface BatchResult {
  /** Row-major [rows, numLabels]. */
  logits: Float32Array;
  numLabels: number;
  runMs: number;
}

/** Runs batches for one model; the batcher only sees this. */
export interface BatchRunner {
  run(rows: RowRef[]): Promise<BatchResult>;
}

export interface LoadOptions {
  modelPath: string;
  providers: ExecutionProvider[];
  intraOpThreads: number;
  padId: number;
  warmupLengths: number[];
}

/**
 * The HTTP thread's handle on one inference worker (a Bun Worker owning one session). Requests
 * and answers are matched by id; if the worker dies, everything it held is rejected at once.
 */
export class ModelWorker implements BatchRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private alive = true;
  readonly ready: Promise<{ loadMs: number; provider: string; numLabels: number }>;

  constructor(
    readonly name: string,
    load: LoadOptions,
  ) {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url).href);
    this.ready = new Promise((resolve, reject) => {
      this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const m = event.data;
        if (m.type === "ready") resolve(m);
        else if (m.type === "load-failed") reject(new Error(`${name}: loading failed: ${m.message}`));
        else this.settle(m);
      };
      this.worker.addEventListener("close", () => {
        this.alive = false;
        reject(new Error(`${name}: worker exited while loading`));
        this.failAll(`the inference worker for ${name} exited`);
      });
      this.worker.onerror = (e) => {
        reject(new Error(`${name}: ${e.message}`));
        this.failAll(`the inference worker for ${name} failed: ${e.message}`);
      };
    });
    this.post({ type: "load", ...load });
  }

  run(rows: RowRef[]): Promise<BatchResult> {
    if (!this.alive) return Promise.reject(new ApiError("inference_unavailable", `the inference worker for ${this.name} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: "run", id, rows });
    });
  }

  terminate() {
    this.alive = false;
    this.worker.terminate();
    this.failAll(`the inference worker for ${this.name} was stopped`);
  }

  private post(m: ToWorker) {
    this.worker.postMessage(m);
  }

  private settle(m: FromWorker) {
    if (m.type !== "result" && m.type !== "run-failed") return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === "result") p.resolve({ logits: m.logits, numLabels: m.numLabels, runMs: m.runMs });
    else p.reject(new ApiError("inference_failed", `${this.name}: inference failed: ${m.message}`));
  }

  private failAll(message: string) {
    for (const p of this.pending.values()) p.reject(new ApiError("inference_unavailable", message));
    this.pending.clear();
  }
}
