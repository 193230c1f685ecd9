import { WorkerCallFailed, WorkerUnavailable } from "./errors.ts";
import type { Fault, FromWorker, ToWorker, WorkerStartData } from "./protocol.ts";
import { DEFAULT_RESTART_POLICY, failuresAfterCrash, restartDelay, type RestartPolicy } from "./restart-policy.ts";

export type WorkerState = "starting" | "up" | "down" | "stopped";

export type WorkerEvent =
  | {
      type: "state";
      state: WorkerState;
      reason?: string;
      /** When it went down: the pause before it is started again (the restart policy's back-off). */
      restartInMs?: number;
    }
  | { type: "holding"; id: number };

export interface SupervisedWorkerOptions<Init> {
  name: string;
  /** The worker's entry file (it calls serveWorker). */
  entry: URL;
  init: Init;
  policy?: RestartPolicy;
  /** Tests only: lets injectFault() make the worker exit, throw or hold. Never set in production. */
  faultHooks?: boolean;
  /** Given to a harness's own entry file at every start (WorkerStartData.harness). Never set in production. */
  harness?: unknown;
}

interface Pending<Reply> {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

/**
 * The HTTP thread's handle on one Bun Worker: calls are matched to replies by id; if the worker
 * dies (exit, uncaught error, failed reload) every call it held is rejected at once with
 * WorkerUnavailable, and it is started again (at once, then with back-off while it keeps dying).
 * A failure while loading for the first time is not retried: `firstReady` rejects and the service
 * does not start.
 */
export class SupervisedWorker<Init, Body, Ready, Reply> {
  state: WorkerState = "starting";
  info: Ready | null = null;
  /** Restarts so far, and crashes in a row (reset once the worker has stayed up for policy.stableMs). */
  restarts = 0;
  failures = 0;
  readonly firstReady: Promise<Ready>;
  private worker!: Worker;
  private upSince: number | null = null;
  private everUp = false;
  private readonly pending = new Map<number, Pending<Reply>>();
  private nextId = 1;
  private nextFault: Fault | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners: ((e: WorkerEvent) => void)[] = [];
  private readonly policy: RestartPolicy;
  private firstSettle!: { resolve: (r: Ready) => void; reject: (e: Error) => void };

  constructor(private readonly opts: SupervisedWorkerOptions<Init>) {
    this.policy = opts.policy ?? DEFAULT_RESTART_POLICY;
    this.firstReady = new Promise((resolve, reject) => (this.firstSettle = { resolve, reject }));
    this.firstReady.catch(() => {}); // awaited by whoever starts the service; never an unhandled rejection
    this.spawn();
  }

  get name() {
    return this.opts.name;
  }

  get up() {
    return this.state === "up";
  }

  /** Calls waiting for this worker's reply. */
  get busy() {
    return this.pending.size;
  }

  on(fn: (e: WorkerEvent) => void) {
    this.listeners.push(fn);
  }

  call(body: Body, transfer: Transferable[] = []): Promise<Reply> {
    if (this.state !== "up")
      return Promise.reject(
        new WorkerUnavailable(this.name, `${this.name} is ${this.state === "down" ? "restarting" : this.state}`),
      );
    const id = this.nextId++;
    const fault = this.nextFault;
    this.nextFault = undefined;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: "call", id, body, fault }, transfer);
    });
  }

  /** Tests only: the next call makes the worker exit, throw, or hold until release(). */
  injectFault(fault: Fault) {
    if (!this.opts.faultHooks) throw new Error(`${this.name}: fault hooks are off`);
    this.nextFault = fault;
  }

  release() {
    this.post({ type: "release" });
  }

  stop() {
    this.setState("stopped");
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.worker.terminate();
    this.failAll(`${this.name} was stopped`);
    this.firstSettle.reject(new Error(`${this.name}: stopped before it was ready`));
  }

  private post(m: ToWorker<Init, Body>, transfer: Transferable[] = []) {
    this.worker.postMessage(m, transfer);
  }

  private spawn() {
    this.setState("starting");
    const workerData: WorkerStartData = { faultHooks: this.opts.faultHooks ?? false, harness: this.opts.harness };
    // Bun's Worker takes Node's `workerData` (read with node:worker_threads), which its types do not declare.
    const worker = new Worker(this.opts.entry.href, { workerData } as WorkerOptions & { workerData: WorkerStartData });
    this.worker = worker;
    let dead = false;
    const died = (reason: string) => {
      if (dead || this.worker !== worker) return;
      dead = true;
      worker.terminate();
      this.failAll(`${this.name} ${reason}`);
      if (this.state === "stopped") return;
      if (!this.everUp) {
        this.setState("stopped", reason);
        this.firstSettle.reject(new Error(`${this.name}: ${reason}`));
        return;
      }
      this.failures = failuresAfterCrash(
        this.failures,
        this.upSince === null ? null : performance.now() - this.upSince,
        this.policy,
      );
      this.upSince = null;
      const pause = restartDelay(this.failures, this.policy);
      this.state = "down";
      this.emit({ type: "state", state: "down", reason, restartInMs: pause });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.restarts++;
        this.spawn();
      }, pause);
    };
    worker.onmessage = (event: MessageEvent<FromWorker<Ready, Reply>>) => {
      const m = event.data;
      if (m.type === "ready") {
        this.info = m.info;
        this.upSince = performance.now();
        this.everUp = true;
        this.setState("up");
        this.firstSettle.resolve(m.info);
      } else if (m.type === "init-failed") died(`failed to load: ${m.message}`);
      else if (m.type === "holding") this.emit({ type: "holding", id: m.id });
      else {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.type === "reply") p.resolve(m.value);
        else p.reject(new WorkerCallFailed(this.name, `${this.name}: ${m.message}`));
      }
    };
    worker.addEventListener("close", (e) => died(`exited (code ${(e as CloseEvent).code})`));
    worker.onerror = (e) => died(`crashed: ${e.message}`);
    this.post({ type: "init", init: this.opts.init });
  }

  private failAll(message: string) {
    for (const p of this.pending.values()) p.reject(new WorkerUnavailable(this.name, message, true));
    this.pending.clear();
  }

  private setState(state: WorkerState, reason?: string) {
    this.state = state;
    this.emit({ type: "state", state, reason });
  }

  private emit(e: WorkerEvent) {
    for (const fn of this.listeners) fn(e);
  }
}
