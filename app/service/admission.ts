import { ApiError } from "../errors.ts";

/**
 * The bound on texts in the service (accepted and not yet answered): a request that would pass it
 * is refused whole, at once, instead of queueing without bound. Drain waits on `whenIdle`.
 */
export class Admission {
  private pending = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  /** Texts accepted and not yet answered. */
  get pendingTexts(): number {
    return this.pending;
  }

  /** Takes `texts` places if they fit; false (nothing taken) if they would pass the limit. */
  tryAdmit(texts: number): boolean {
    if (this.pending + texts > this.limit) return false;
    this.pending += texts;
    return true;
  }

  release(texts: number) {
    this.pending -= texts;
    if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** True once nothing is pending; false if that takes longer than timeoutMs. */
  async whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([idle, late]);
    clearTimeout(timer);
    return result;
  }
}

/** The share of a request's remaining deadline its expected wait may take. */
const ADMISSION_MARGIN = 0.7;

/**
 * What the refusal by expected wait reads of one queue of work, with a request's share of it: a
 * model's (ModelBatcher; tokens) or the tokenizers' (TokenizerPool; characters).
 */
export interface QueueLoad {
  /** How long `tokens` take alone on one worker at the measured speed (0 until measured). */
  aloneMs(tokens: number): number;
  /** How long `tokens` would wait behind the work queued and running (0 until measured). */
  expectedWaitMs(tokens: number): number;
}

/**
 * Refuses at once, before anything is queued, work that cannot be answered in time: a request
 * whose own rows need longer than its deadline at the measured speed (422 deadline_unreachable),
 * or one that would wait longer than the time it has left behind the work already queued
 * (503 overloaded, Retry-After from the estimate). Until a model has answered a batch its speed is
 * unknown and nothing is refused this way. Null: admitted.
 */
export function refusalByExpectedWait(
  models: { queue: QueueLoad; tokens: number }[],
  remainingMs: number,
  work = "inference",
) {
  const alone = Math.max(...models.map((m) => m.queue.aloneMs(m.tokens)));
  if (alone > remainingMs)
    return new ApiError(
      "deadline_unreachable",
      `this request needs about ${(alone / 1000).toFixed(1)} s of ${work} at the measured speed, more than its ` +
        `deadline allows (${(remainingMs / 1000).toFixed(1)} s): send fewer or shorter texts`,
    );
  // Shed only for work that is really ahead: a request alone on an idle model is admitted if it fits.
  const ahead = Math.max(...models.map((m) => m.queue.expectedWaitMs(0)));
  const wait = Math.max(...models.map((m) => m.queue.expectedWaitMs(m.tokens)));
  if (ahead > 0 && wait > remainingMs * ADMISSION_MARGIN)
    return new ApiError(
      "overloaded",
      `the work queued ahead would take about ${(ahead / 1000).toFixed(1)} s, this request ${(wait / 1000).toFixed(1)} s in all, ` +
        "past its deadline: retry later",
      Math.max(1, Math.ceil(ahead / 1000)),
    );
  return null;
}
