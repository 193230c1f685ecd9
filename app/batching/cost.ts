/**
 * One model's measured inference cost, for admission: how long new work would wait behind the work
 * queued and running. Nothing is known (0) until a batch has been answered.
 */
export class CostEstimate {
  /** ms per padded token, a moving average over answered batches; null until one is answered. */
  private msPerToken: number | null = null;
  /** Padded tokens of the batches running. */
  private runningTokens = 0;

  started(paddedTokens: number) {
    this.runningTokens += paddedTokens;
  }

  finished(paddedTokens: number) {
    this.runningTokens -= paddedTokens;
  }

  /** A batch of `paddedTokens` answered in `runMs`. */
  measured(paddedTokens: number, runMs: number) {
    const cost = runMs / paddedTokens;
    this.msPerToken = this.msPerToken === null ? cost : 0.8 * this.msPerToken + 0.2 * cost;
  }

  /** The wait for `tokens` more behind `queuedTokens` and half the running work, shared by `runners`. */
  waitMs(queuedTokens: number, tokens: number, runners: number): number {
    if (this.msPerToken === null) return 0;
    return ((queuedTokens + this.runningTokens / 2 + tokens) * this.msPerToken) / Math.max(1, runners);
  }

  /** How long `tokens` take alone on one runner. */
  aloneMs(tokens: number): number {
    return (this.msPerToken ?? 0) * tokens;
  }
}
