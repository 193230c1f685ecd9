import type { TokenizerObservation } from "../service/api.ts";
import { TokenizeCost } from "./tokenize-cost.ts";
import { LONGEST_FIRST_RIGHT, type Truncation } from "./truncation.ts";
import { TOKENIZER_ENTRY, type TokenizerEntry, TokenizerProcess } from "./tokenizer-process-handle.ts";
import {
  type FamilyEncodings,
  type FamilyInfo,
  type FamilyRequest,
  type TextInput,
  charCount,
} from "./tokenizer-protocol.ts";

export { TokenizationFailed, type TokenizerEntry } from "./tokenizer-process-handle.ts";

export interface TokenizerPoolOptions {
  /** Tokenizer processes: jobs encoding at once. */
  processes: number;
  /**
   * A process whose resident memory grew past this multiple of its size after loading is replaced
   * after its job: the allocator keeps what a flood of long texts took, and a fresh process gives it back.
   */
  recycleAboveRss: number;
  entry?: TokenizerEntry;
  /** The pause before starting a process again after the `failures`-th failure in a row. */
  restartDelayMs: (failures: number) => number;
  /**
   * Run before every process started after the first ones: throws if the tokenizer files are no longer
   * the ones proven at start (loading.ts: verifyFamilyFile), so a restart never loads an edited file.
   */
  verifyFiles?: () => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface QueuedJob {
  texts: TextInput[];
  truncation: Truncation;
  chars: number;
  tokens: boolean;
  signal: AbortSignal;
  resolve: (families: Record<string, FamilyEncodings>) => void;
  reject: (e: unknown) => void;
}

/**
 * Tokenization as bounded work: each request's texts are one job, encoded by one of a fixed number
 * of tokenizer processes (serve-tokenizers.ts), the rest waiting in order. A job whose request ends
 * before a process takes it is dropped unencoded; one whose request ends while it runs is answered
 * at once and its result thrown away, so abandoned uploads hold at most `processes` jobs of work. A
 * process that dies fails only the job it held, and another is started in its place.
 */
export class TokenizerPool {
  private readonly live = new Set<TokenizerProcess>();
  private readonly idle: TokenizerProcess[] = [];
  private readonly queue: QueuedJob[] = [];
  private readonly cost = new TokenizeCost();
  private readonly restarts: Restarts;
  private queuedChars = 0;
  private stopped = false;
  private readonly counts = { droppedBeforeStart: 0, crashes: 0, recycled: 0 };

  private constructor(
    readonly families: FamilyInfo[],
    requests: FamilyRequest[],
    private readonly opts: TokenizerPoolOptions,
  ) {
    this.restarts = new Restarts(requests, families, opts, (p) => this.adopt(p));
  }

  /** Starts the processes and loads the families in each; fails (nothing left running) if any refuses a file. */
  static async start(requests: FamilyRequest[], opts: TokenizerPoolOptions): Promise<TokenizerPool> {
    const started: TokenizerProcess[] = [];
    try {
      for (let i = 0; i < Math.max(1, opts.processes); i++)
        started.push(new TokenizerProcess(opts.entry ?? TOKENIZER_ENTRY));
      const loaded = await Promise.all(started.map((p) => p.load(requests)));
      const pool = new TokenizerPool(loaded[0], requests, opts);
      for (const p of started) pool.adopt(p);
      return pool;
    } catch (e) {
      for (const p of started) p.kill();
      throw e;
    }
  }

  /** Each family's encodings of `texts` (cut to the family's maxLength); rejects with the signal's reason if it ends first. */
  encode(
    texts: TextInput[],
    signal: AbortSignal,
    tokens = false,
    truncation: Truncation = LONGEST_FIRST_RIGHT,
  ): Promise<Record<string, FamilyEncodings>> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new Error("the tokenizer processes were stopped"));
      if (signal.aborted) return reject(signal.reason);
      const job = queuedJob({ texts, tokens, truncation }, signal, resolve, reject, () => this.abandon(job));
      this.queue.push(job);
      this.queuedChars += job.chars;
      this.dispatch();
    });
  }

  /** How long `chars` more characters would wait for and take in tokenization, at the measured speed (0 until measured). */
  expectedWaitMs(chars: number): number {
    return this.cost.waitMs(this.queue.length, this.queuedChars, chars, Math.max(1, this.live.size));
  }

  /** How long `chars` characters take to encode, alone, at the measured speed (0 until measured). */
  aloneMs(chars: number): number {
    return this.cost.aloneMs(chars);
  }

  get stats(): TokenizerObservation {
    return {
      processes: this.live.size,
      queuedJobs: this.queue.length,
      runningJobs: this.live.size - this.idle.length,
      ...this.counts,
      rssBytes: [...this.live].reduce((n, p) => n + p.rss, 0),
    };
  }

  /** The processes' ids (their memory is read from /proc by tests and operators). */
  get pids(): number[] {
    return [...this.live].map((p) => p.pid);
  }

  /** Kills every process; queued jobs are rejected, later calls refused, no process is started again. */
  stop() {
    this.stopped = true;
    this.restarts.stop();
    for (const p of this.live) p.kill();
    this.live.clear();
    this.idle.length = 0;
    for (const job of this.queue.splice(0)) job.reject(new Error("the tokenizer processes were stopped"));
    this.queuedChars = 0;
  }

  private abandon(job: QueuedJob) {
    const at = this.queue.indexOf(job);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.queuedChars -= job.chars;
      this.counts.droppedBeforeStart++;
    }
    job.reject(job.signal.reason);
  }

  private adopt(p: TokenizerProcess) {
    if (this.stopped) return p.kill();
    this.live.add(p);
    this.idle.push(p);
    p.exited.then((why) => this.onExit(p, why));
    this.dispatch();
  }

  private dispatch() {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift() as QueuedJob;
      this.queuedChars -= job.chars;
      this.run(this.idle.pop() as TokenizerProcess, job);
    }
  }

  private async run(p: TokenizerProcess, job: QueuedJob) {
    const started = performance.now();
    this.cost.started(job.chars);
    try {
      job.resolve(await p.encode(job.texts, job.tokens, job.truncation));
      this.cost.measured(job.chars, performance.now() - started);
      this.restarts.succeeded();
    } catch (e) {
      job.reject(e);
    } finally {
      this.cost.finished(job.chars);
      // A process that died under the job is replaced (onExit); one that answered with an error is still good.
      if (!p.dead && this.live.has(p)) this.release(p);
    }
  }

  /** Back to work, or replaced if its memory grew past the bound. */
  private release(p: TokenizerProcess) {
    if (p.rss > p.baselineRss * this.opts.recycleAboveRss) {
      this.counts.recycled++;
      this.opts.log?.("tokenizer process replaced: its memory grew", { rssBytes: p.rss, baselineBytes: p.baselineRss });
      this.live.delete(p);
      p.kill();
      this.restarts.startOne(0);
      return;
    }
    this.idle.push(p);
    this.dispatch();
  }

  private onExit(p: TokenizerProcess, why: string) {
    if (!this.live.delete(p) || this.stopped) return;
    const at = this.idle.indexOf(p);
    if (at >= 0) this.idle.splice(at, 1);
    this.counts.crashes++;
    this.restarts.crashed(why);
  }
}

/**
 * Starting processes in place of those gone: after the restart delay (doubling while starts keep
 * failing, reset by a job answered), each checked to load what was proven at start: the files
 * (verifyFiles) and the same families (special ids, lengths) as the pool's first processes.
 */
class Restarts {
  private failures = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(
    private readonly requests: FamilyRequest[],
    private readonly families: FamilyInfo[],
    private readonly opts: TokenizerPoolOptions,
    private readonly adopt: (p: TokenizerProcess) => void,
  ) {}

  succeeded() {
    this.failures = 0;
  }

  crashed(why: string) {
    this.failures++;
    const delay = this.opts.restartDelayMs(this.failures);
    this.opts.log?.("tokenizer process died; starting another", { why, restartInMs: delay });
    this.startOne(delay);
  }

  startOne(delayMs: number) {
    const timer = setTimeout(async () => {
      this.timers.delete(timer);
      if (this.stopped) return;
      let p: TokenizerProcess | undefined;
      try {
        this.opts.verifyFiles?.();
        p = new TokenizerProcess(this.opts.entry ?? TOKENIZER_ENTRY);
        const loaded = await p.load(this.requests);
        if (JSON.stringify(loaded) !== JSON.stringify(this.families))
          throw new Error("the tokenizer files load differently from when the service started");
        this.adopt(p);
      } catch (e) {
        p?.kill();
        this.failures++;
        this.opts.log?.("tokenizer process failed to start again", { error: (e as Error).message });
        this.startOne(this.opts.restartDelayMs(this.failures));
      }
    }, delayMs);
    this.timers.add(timer);
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** A job listening for its request's end (`onAbort`) until it settles, when it stops listening. */
function queuedJob(
  { texts, tokens, truncation }: Pick<QueuedJob, "texts" | "tokens" | "truncation">,
  signal: AbortSignal,
  resolve: QueuedJob["resolve"],
  reject: QueuedJob["reject"],
  onAbort: () => void,
): QueuedJob {
  signal.addEventListener("abort", onAbort, { once: true });
  const settled = () => signal.removeEventListener("abort", onAbort);
  return {
    texts,
    truncation,
    chars: charCount(texts),
    tokens,
    signal,
    resolve: (families) => {
      settled();
      resolve(families);
    },
    reject: (e) => {
      settled();
      reject(e);
    },
  };
}
