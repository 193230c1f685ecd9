/**
 * One model's measured inference cost, for admission: how long new work would wait behind the work
 * queued and running. A batch costs a fixed part (the call, the feeds, the kernels' start) plus a
 * part per token as the batch budget prices them (policy.ts batchCost: padded tokens, or packed
 * tokens plus attention), both fitted to the answered batches by least squares, each batch's weight
 * decaying by DECAY per later batch so the estimate follows the recent cost (a worker moved to the
 * CPU, a host grown busy). Without the fixed part, short batches made every token look dear: after
 * short traffic an 8 × 512-token request that ran in 26 s was refused as needing 31 s. Nothing is
 * known (0) until a batch has been answered.
 */
export class CostEstimate {
  /** Decayed sums over answered batches: weight, tokens, ms, tokens², tokens × ms. */
  private w = 0;
  private t = 0;
  private m = 0;
  private tt = 0;
  private tm = 0;
  /** Tokens (as batchCost prices them) and batches running. */
  private runningTokens = 0;
  private runningBatches = 0;

  started(tokens: number) {
    this.runningTokens += tokens;
    this.runningBatches++;
  }

  finished(tokens: number) {
    this.runningTokens -= tokens;
    this.runningBatches--;
  }

  /** A batch of `tokens` answered in `runMs`. */
  measured(tokens: number, runMs: number) {
    this.w = DECAY * this.w + 1;
    this.t = DECAY * this.t + tokens;
    this.m = DECAY * this.m + runMs;
    this.tt = DECAY * this.tt + tokens * tokens;
    this.tm = DECAY * this.tm + tokens * runMs;
  }

  /**
   * The fitted cost of one batch: `fixedMs` + `msPerToken` × tokens; null until a batch is
   * answered. While the batches measured are too alike in size to tell the parts apart, all of the
   * cost is put on the tokens (never less than measured for larger work); neither part is negative.
   */
  model(): { fixedMs: number; msPerToken: number } | null {
    if (this.w === 0 || this.t === 0) return null;
    const meanT = this.t / this.w;
    const varT = this.tt / this.w - meanT * meanT;
    if (varT > (MIN_SPREAD * meanT) ** 2) {
      const msPerToken = (this.tm / this.w - meanT * (this.m / this.w)) / varT;
      const fixedMs = this.m / this.w - msPerToken * meanT;
      if (msPerToken >= 0 && fixedMs >= 0) return { fixedMs, msPerToken };
      // Noise fitted a negative part: the cost through the origin, or the mean batch's.
      if (fixedMs < 0) return { fixedMs: 0, msPerToken: this.tm / this.tt };
      return { fixedMs: this.m / this.w, msPerToken: 0 };
    }
    return { fixedMs: 0, msPerToken: this.m / this.t };
  }

  /**
   * The wait for `tokens` more behind `queuedTokens` and half the running work, shared by `runners`,
   * the queued and new work in batches of at most `batchTokens`.
   */
  waitMs(queuedTokens: number, tokens: number, runners: number, batchTokens: number): number {
    const fit = this.model();
    if (!fit) return 0;
    const running = (this.runningBatches * fit.fixedMs + this.runningTokens * fit.msPerToken) / 2;
    return (running + costMs(fit, queuedTokens + tokens, batchTokens)) / Math.max(1, runners);
  }

  /** How long `tokens` take alone on one runner, in batches of at most `batchTokens`. */
  aloneMs(tokens: number, batchTokens: number): number {
    const fit = this.model();
    return fit ? costMs(fit, tokens, batchTokens) : 0;
  }
}

/** Each measured batch's weight is multiplied by this for every later one: about the last 20 batches count. */
const DECAY = 0.95;
/** The spread of batch sizes (standard deviation over mean) below which the fixed part is not fitted. */
const MIN_SPREAD = 0.05;

/**
 * `tokens` in the fewest batches of at most `batchTokens`: an approximation (rows longer than the
 * budget go alone, the row cap may split more) that only moves the fixed part, small beside the tokens'.
 */
function costMs(fit: { fixedMs: number; msPerToken: number }, tokens: number, batchTokens: number): number {
  if (tokens <= 0) return 0;
  return Math.max(1, Math.ceil(tokens / Math.max(1, batchTokens))) * fit.fixedMs + tokens * fit.msPerToken;
}
