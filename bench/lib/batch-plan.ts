/**
 * How the raw engine forms batches when it stands for the service at saturation: the service's own
 * batch rule (app/batching/policy.ts selectBatch) over a queue that always holds `window` rows (as
 * many as a closed loop of `window` clients keeps waiting per model), refilled in arrival order.
 */
import { type BatchLimits, selectBatch } from "../../app/batching/policy.ts";

/** Batches of row indices (each batch in queue order) covering every row once. */
export function batchesAtSaturation(lengths: readonly number[], limits: BatchLimits, window: number): number[][] {
  const opts = { ...limits, maxQueueDelayMs: 0 };
  const queue: { index: number; length: number; enqueuedAt: number }[] = [];
  const batches: number[][] = [];
  let next = 0;
  const refill = () => {
    while (queue.length < Math.max(1, window) && next < lengths.length)
      queue.push({ index: next, length: lengths[next], enqueuedAt: next++ });
  };
  for (refill(); queue.length > 0; refill()) {
    const { rows } = selectBatch(queue, opts);
    batches.push(rows.map((i) => queue[i].index));
    for (const i of [...rows].reverse()) queue.splice(i, 1);
  }
  return batches;
}
