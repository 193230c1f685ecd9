/**
 * The send-or-wait decision of the batch window, in one pure function (Triton's dynamic batcher and
 * TEI's next_batch are the models): no clocks, timers or IO here, so it is tested with plain numbers.
 */

export interface QueuedRow {
  /** When the row entered the queue (ms, any monotonic clock). */
  enqueuedAt: number;
  /** Its token count: the padded batch is as long as its longest row. */
  length: number;
}

/** How large one batch may be. */
export interface BatchLimits {
  maxBatchSize: number;
  /**
   * What a batch may cost (batchCost): padded tokens, longest row × rows; packed, its tokens plus
   * their attention. A single longer row is still sent alone.
   */
  maxBatchTokens: number;
  /**
   * The runner runs the packed graph (rows concatenated, no padding): a row's length no longer adds
   * padding to the others, so the oldest rows go first, whatever their lengths.
   */
  packed?: boolean;
}

/**
 * Attention's price in tokens, packed. The packed graph runs everything per token on the rows' T
 * tokens, and attention per row at the longest row's length L (convert/onnx/rows.ts): R · L² query-key
 * pairs, 2·H multiply-adds each per layer, beside the 12·H² per token of the projections and
 * feed-forward (intermediate 4·H). So R · L² / 6H tokens' worth: at H = 768 (the base models served)
 * R · L² / 4608; larger models pay relatively less. Counted from the FLOPs, not benchmarked. It is
 * what bounds the square: rows of 40 tokens add under 1%, a 512-token row 11% of its 512.
 */
const PACKED_ATTENTION_TOKENS = 4608;

/** What a batch of rows of these lengths costs, in the token budget's units: padded, longest × rows. */
export function batchCost(lengths: readonly number[], packed: boolean): number {
  if (lengths.length === 0) return 0;
  const longest = Math.max(...lengths);
  if (!packed) return longest * lengths.length;
  const tokens = lengths.reduce((n, l) => n + l, 0);
  return tokens + (lengths.length * longest * longest) / PACKED_ATTENTION_TOKENS;
}

export interface BatchPolicyOptions extends BatchLimits {
  maxQueueDelayMs: number;
}

/** The stricter of two sets of limits, each field on its own; packed as the runner's limits say. */
export function withinLimits(opts: BatchPolicyOptions, limits: BatchLimits | undefined): BatchPolicyOptions {
  if (!limits) return opts;
  const maxBatchSize = Math.min(opts.maxBatchSize, limits.maxBatchSize);
  const maxBatchTokens = Math.min(opts.maxBatchTokens, limits.maxBatchTokens);
  const packed = limits.packed ?? false;
  if (maxBatchSize === opts.maxBatchSize && maxBatchTokens === opts.maxBatchTokens && packed === (opts.packed ?? false))
    return opts;
  return { ...opts, maxBatchSize, maxBatchTokens, packed: packed || undefined };
}

export type SendReason = "idle" | "full" | "tokens" | "delay";
export type Decision = { kind: "send"; rows: number[]; reason: SendReason } | { kind: "wait"; wakeAt: number | null };

type Selection = { rows: number[]; limitedBy: "size" | "tokens" | "queue" };

/**
 * Which queued rows form the next batch: always the oldest row (nothing starves), then, padded, the
 * rows closest to it in length (less padding), packed, the next rows in queue order (a row that
 * would pass the budget is left for the next batch; shorter ones behind it may still join), while the
 * batch fits the size and token limits. Returns queue indices in queue order, and what stopped the
 * batch from growing.
 */
export function selectBatch(queue: readonly QueuedRow[], opts: BatchPolicyOptions): Selection {
  if (queue.length === 0) return { rows: [], limitedBy: "queue" };
  if (opts.packed) return selectPacked(queue, opts);
  const byLength = queue.map((_, i) => i).sort((a, b) => queue[a].length - queue[b].length || a - b);
  const anchor = byLength.indexOf(0);
  const chosen = [0];
  let longest = queue[0].length;
  let lo = anchor - 1;
  let hi = anchor + 1;
  let limitedBy: "size" | "tokens" | "queue" = "queue";
  while (lo >= 0 || hi < byLength.length) {
    if (chosen.length >= opts.maxBatchSize) {
      limitedBy = "size";
      break;
    }
    const target = queue[0].length;
    const takeLow =
      hi >= byLength.length || (lo >= 0 && target - queue[byLength[lo]].length <= queue[byLength[hi]].length - target);
    const candidate = takeLow ? byLength[lo] : byLength[hi];
    const newLongest = Math.max(longest, queue[candidate].length);
    if (newLongest * (chosen.length + 1) > opts.maxBatchTokens) {
      // A longer neighbour may not fit where a shorter one still would: try the low side once more.
      if (!takeLow && lo >= 0 && longest * (chosen.length + 1) <= opts.maxBatchTokens) {
        hi = byLength.length;
        continue;
      }
      limitedBy = "tokens";
      break;
    }
    chosen.push(candidate);
    longest = newLongest;
    if (takeLow) lo--;
    else hi++;
  }
  if (chosen.length >= opts.maxBatchSize) limitedBy = "size";
  return { rows: chosen.sort((a, b) => a - b), limitedBy };
}

/** Packed: padding costs nothing, so the oldest rows that fit the budget, in queue order. */
function selectPacked(queue: readonly QueuedRow[], opts: BatchPolicyOptions): Selection {
  const chosen = [0];
  const lengths = [queue[0].length];
  let limitedBy: Selection["limitedBy"] = "queue";
  for (let i = 1; i < queue.length && chosen.length < opts.maxBatchSize; i++) {
    if (batchCost([...lengths, queue[i].length], true) > opts.maxBatchTokens) {
      limitedBy = "tokens";
      continue;
    }
    chosen.push(i);
    lengths.push(queue[i].length);
  }
  if (chosen.length >= opts.maxBatchSize) limitedBy = "size";
  return { rows: chosen, limitedBy };
}

/**
 * Send when a model slot is free and: nothing is running (an idle model adds no latency), the batch
 * is full, the token budget is reached, or the oldest row has waited maxQueueDelayMs. Otherwise wait
 * until the oldest row's deadline, or (all slots busy) until a batch completes.
 */
export function decide(
  queue: readonly QueuedRow[],
  now: number,
  inFlight: number,
  maxInFlight: number,
  opts: BatchPolicyOptions,
): Decision {
  if (queue.length === 0 || inFlight >= maxInFlight) return { kind: "wait", wakeAt: null };
  const { rows, limitedBy } = selectBatch(queue, opts);
  if (inFlight === 0) return { kind: "send", rows, reason: "idle" };
  if (limitedBy === "size") return { kind: "send", rows, reason: "full" };
  if (limitedBy === "tokens") return { kind: "send", rows, reason: "tokens" };
  // The oldest row's deadline (the queue is in fair order, not always arrival order).
  let oldest = queue[0].enqueuedAt;
  for (const q of queue) if (q.enqueuedAt < oldest) oldest = q.enqueuedAt;
  const wakeAt = oldest + opts.maxQueueDelayMs;
  if (now >= wakeAt) return { kind: "send", rows, reason: "delay" };
  return { kind: "wait", wakeAt };
}
