/**
 * What tokenization costs, for admission: a fixed part per job (the message to a tokenizer process
 * and back: tenths of a millisecond to a few) and a part per character (about a microsecond). Each
 * is measured only from the jobs that show it: the fixed part from short jobs, the per-character part
 * from long ones less the fixed part. One fit over both would not do: after nothing but short texts,
 * a least-squares line through them puts the message's cost on their few characters and makes a
 * 1 MB text look like twenty minutes. Nothing is known (0) until measured, so nothing is refused by it.
 */
export class TokenizeCost {
  private fixed: number | null = null;
  private perChar: number | null = null;
  private runningChars = 0;
  private runningJobs = 0;

  started(chars: number) {
    this.runningChars += chars;
    this.runningJobs++;
  }

  finished(chars: number) {
    this.runningChars -= chars;
    this.runningJobs--;
  }

  /** A job of `chars` characters took `ms`. */
  measured(chars: number, ms: number) {
    if (chars <= SHORT_JOB_CHARS) this.fixed = ewma(this.fixed, ms);
    else if (chars >= LONG_JOB_CHARS) this.perChar = ewma(this.perChar, Math.max(0, ms - (this.fixed ?? 0)) / chars);
  }

  /** How long a job of `chars` takes alone. */
  aloneMs(chars: number): number {
    return (this.fixed ?? 0) + chars * (this.perChar ?? 0);
  }

  /** How long a job of `chars` waits and runs behind `queuedJobs` jobs of `queuedChars` and half the running work, shared by `processes`. */
  waitMs(queuedJobs: number, queuedChars: number, chars: number, processes: number): number {
    const fixed = this.fixed ?? 0;
    const perChar = this.perChar ?? 0;
    const running = (this.runningJobs * fixed + this.runningChars * perChar) / 2;
    const queued = queuedJobs * fixed + queuedChars * perChar;
    return (running + queued) / Math.max(1, processes) + (chars > 0 ? this.aloneMs(chars) : 0);
  }
}

/** Jobs this short cost their fixed part (1,000 characters encode in about a millisecond). */
const SHORT_JOB_CHARS = 1_000;
/** Jobs this long cost mostly their characters (a few milliseconds of them); the fixed part is taken off. */
const LONG_JOB_CHARS = 4_000;
/** The weight of the newest measurement: about the last ten count. */
const NEWEST = 0.1;

const ewma = (previous: number | null, value: number) =>
  previous === null ? value : previous + NEWEST * (value - previous);
