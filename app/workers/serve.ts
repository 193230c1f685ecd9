/// <reference lib="webworker" />
import { workerData } from "node:worker_threads";
import type { Fault, FromWorker, ToWorker, WorkerStartData } from "./protocol.ts";

declare const self: Worker;

export interface WorkerHandlers<Init, Body, Ready, Reply> {
  init(init: Init): Promise<Ready> | Ready;
  /** The reply, and buffers to transfer rather than copy. */
  handle(
    body: Body,
  ): Promise<{ value: Reply; transfer?: Transferable[] }> | { value: Reply; transfer?: Transferable[] };
}

/** The worker side of the protocol: call this once from a worker entry file. */
export function serveWorker<Init, Body, Ready, Reply>(h: WorkerHandlers<Init, Body, Ready, Reply>) {
  const post = (m: FromWorker<Ready, Reply>, transfer: Transferable[] = []) => self.postMessage(m, transfer);
  // Whether this worker may honour test-only behaviour (never in production).
  const faultHooks = (workerData as WorkerStartData | null)?.faultHooks === true;
  const released: (() => void)[] = [];
  let queue = Promise.resolve();

  const call = async (id: number, body: Body, fault: Fault | undefined) => {
    if (faultHooks && fault === "exit") process.exit(70);
    if (faultHooks && fault === "hold") {
      post({ type: "holding", id });
      await new Promise<void>((resolve) => released.push(resolve));
    }
    try {
      if (faultHooks && fault === "throw") throw new Error("fault injected by a test");
      const { value, transfer } = await h.handle(body);
      post({ type: "reply", id, value }, transfer);
    } catch (e) {
      post({ type: "failed", id, message: e instanceof Error ? e.message : String(e) });
    }
  };

  self.onmessage = async (event: MessageEvent<ToWorker<Init, Body>>) => {
    const m = event.data;
    if (m.type === "release") {
      for (const r of released.splice(0)) r();
    } else if (m.type === "init") {
      try {
        post({ type: "ready", info: await h.init(m.init) });
      } catch (e) {
        post({ type: "init-failed", message: e instanceof Error ? e.message : String(e) });
      }
    } else {
      // One call at a time, in arrival order (a held call holds the ones behind it, as a long run would).
      queue = queue.then(() => call(m.id, m.body, m.fault));
    }
  };
}
