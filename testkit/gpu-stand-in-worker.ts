/** The inference worker with GPU candidates standing in on the CPU while the model's loads last (testkit/gpu-stand-in.ts). */
import { workerData } from "node:worker_threads";
import { serveModelWorker } from "../app/inference/serve-model.ts";
import type { WorkerStartData } from "../app/workers/protocol.ts";
import type { GpuStandInHarness } from "./gpu-stand-in.ts";

const { loadsLeft } = (workerData as WorkerStartData).harness as GpuStandInHarness;

serveModelWorker((c) => {
  if (c.provider === "cpu") return c;
  if (Atomics.sub(new Int32Array(loadsLeft), 0, 1) <= 0) throw new Error(`stand-in: the ${c.provider} device is gone`);
  return { ...c, provider: "cpu" };
});
