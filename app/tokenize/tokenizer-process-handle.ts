import type { Subprocess } from "bun";
import { TokenizerFileError } from "../../lib/tokenizer/definition.ts";
import type {
  FamilyEncodings,
  FamilyInfo,
  FamilyRequest,
  FromTokenizer,
  TextInput,
  ToTokenizer,
} from "./tokenizer-protocol.ts";
import type { Truncation } from "./truncation.ts";

/** A tokenizer process died holding a job, or answered it with an error: that job's texts are not encoded. */
export class TokenizationFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenizationFailed";
  }
}

/** Where a tokenizer process starts from: the service's entry, or a harness's (tests). */
export interface TokenizerEntry {
  file: string;
  /** Tests only: a text holding ABORT_MARKER aborts the process. Never set in production. */
  faultHooks?: boolean;
}

export const TOKENIZER_ENTRY: TokenizerEntry = { file: new URL("./tokenizer-process.ts", import.meta.url).pathname };

interface Job {
  resolve: (families: Record<string, FamilyEncodings>) => void;
  reject: (e: Error) => void;
}

/**
 * The service's handle on one tokenizer process: starts it and loads the families, runs one job at
 * a time, and tells whoever holds a job when the process dies under it. Knows nothing of queues or
 * restarts (TokenizerPool).
 */
export class TokenizerProcess {
  /** Its resident memory after loading, and after its last job (bytes). */
  baselineRss = 0;
  rss = 0;
  /** Exited (crashed or killed): takes no more jobs. */
  dead = false;
  private readonly child: Subprocess<"ignore", "inherit", "inherit">;
  private job: Job | null = null;
  private nextJob = 1;
  private ready: { resolve: (f: FamilyInfo[]) => void; reject: (e: Error) => void } | null = null;
  readonly exited: Promise<string>;

  constructor(entry: TokenizerEntry) {
    this.child = Bun.spawn({
      cmd: [process.execPath, entry.file, ...(entry.faultHooks ? ["--fault-hooks"] : [])],
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "advanced",
      ipc: (m: FromTokenizer) => this.onMessage(m),
    });
    this.exited = this.child.exited.then(() => {
      this.dead = true;
      const why = `the tokenizer process exited (${this.child.signalCode ?? `code ${this.child.exitCode}`})`;
      this.ready?.reject(new Error(why));
      this.job?.reject(new TokenizationFailed(`${why} while encoding this request's texts`));
      this.ready = this.job = null;
      return why;
    });
  }

  /** Loads the families; rejects with TokenizerFileError naming a file it refused, or if the process dies first. */
  load(families: FamilyRequest[]): Promise<FamilyInfo[]> {
    return new Promise((resolve, reject) => {
      this.ready = { resolve, reject };
      if (!this.send({ type: "load", families })) {
        this.ready = null;
        reject(new Error("the tokenizer process exited before it could load"));
      }
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  encode(texts: TextInput[], tokens: boolean, truncation: Truncation): Promise<Record<string, FamilyEncodings>> {
    if (this.job) throw new Error("a tokenizer process runs one job at a time");
    return new Promise((resolve, reject) => {
      this.job = { resolve, reject };
      if (!this.send({ type: "encode", job: this.nextJob++, texts, tokens, truncation })) {
        this.job = null;
        reject(new TokenizationFailed("the tokenizer process had exited: this request's texts were not encoded"));
      }
    });
  }

  kill() {
    this.dead = true;
    this.child.kill("SIGKILL");
  }

  /**
   * False when the message could not be sent: the IPC channel closes before the exit is reaped, and
   * Bun's send throws then. The process is then as good as dead: it takes no more jobs and is killed
   * (its exit, when reaped, has the pool start another).
   */
  private send(m: ToTokenizer): boolean {
    try {
      this.child.send(m);
      return true;
    } catch {
      this.kill();
      return false;
    }
  }

  private onMessage(m: FromTokenizer) {
    if (m.type === "ready" || m.type === "load-failed") {
      const ready = this.ready;
      this.ready = null;
      if (m.type === "ready") {
        this.rss = m.rss;
        this.baselineRss = m.baselineRss;
        ready?.resolve(m.families);
      } else ready?.reject(m.file ? new TokenizerFileError(m.file, m.problem) : new Error(m.problem));
      return;
    }
    this.rss = m.rss;
    this.baselineRss = m.baselineRss;
    const job = this.job;
    this.job = null;
    if (m.type === "encoded") job?.resolve(m.families);
    else job?.reject(new TokenizationFailed(`the tokenizer failed on this request's texts: ${m.message}`));
  }
}
