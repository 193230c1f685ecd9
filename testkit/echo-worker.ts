/** A worker for testing the supervisor: doubles numbers; can fail to load after its first start, or crash from a timer. */
import { serveWorker } from "../app/workers/serve.ts";

export interface EchoInit {
  /** Starts so far, shared with the test: Int32Array [starts]. */
  starts: SharedArrayBuffer;
  /** Loading fails (the worker exits) on every start after this many. */
  healthyStarts: number;
}

serveWorker<EchoInit, { op: "double"; n: number } | { op: "uncaught" }, { start: number }, number>({
  init({ starts, healthyStarts }) {
    const start = Atomics.add(new Int32Array(starts), 0, 1) + 1;
    if (start > healthyStarts) process.exit(1);
    return { start };
  },
  handle(body) {
    if (body.op === "uncaught") {
      setTimeout(() => {
        throw new Error("an error nobody catches");
      });
      return new Promise(() => {});
    }
    return { value: body.n * 2 };
  },
});
