/**
 * One one-thread MatMul session in a worker, for measureGemm's side-by-side layout: told a job, it
 * opens and warms its session and says so; told "go", it runs the job's seconds and answers its runs.
 */
import type * as ort from "onnxruntime-node";
import { type GemmWorkerJob, openMatMul, pseudoRandom, runMatMul, timeShape } from "./gemm.ts";

declare const self: Worker;

let opened: { job: GemmWorkerJob; session: ort.InferenceSession } | null = null;

self.onmessage = async (e: MessageEvent<GemmWorkerJob | "go">) => {
  if (e.data !== "go") {
    const job = e.data;
    const session = await openMatMul(job.model, 1);
    opened = { job, session };
    await runMatMul(session, pseudoRandom(job.tokens * job.k, 7), job.tokens, job.k);
    self.postMessage("ready");
    return;
  }
  if (!opened) throw new Error('gemm worker: told "go" before it was told a job');
  const { job, session } = opened;
  const r = await timeShape(session, job.tokens, job.k, job.seconds);
  await session.release();
  self.postMessage(r);
};
