import type { RestartPolicy } from "../workers/restart-policy.ts";
import { SupervisedWorker } from "../workers/supervised-worker.ts";
import type { PackedRows } from "./pack.ts";

export interface FamilySpec {
  id: string;
  dir: string;
  maxLength: number;
}

/** Texts to encode, and a flag (Int32 [0 | 1]) the HTTP thread sets when the request is abandoned. */
export interface EncodeCall {
  texts: string[];
  cancel: SharedArrayBuffer;
}

type TokenizerWorker = SupervisedWorker<FamilySpec[], EncodeCall, { families: number }, Record<string, PackedRows>>;

/** Tokenizer workers, each with every family loaded; a call goes to the live worker with the fewest calls. */
export class TokenizerPool {
  readonly workers: TokenizerWorker[];

  constructor(families: FamilySpec[], size: number, opts: { policy?: RestartPolicy; faultHooks?: boolean } = {}) {
    this.workers = Array.from(
      { length: size },
      (_, i) =>
        new SupervisedWorker({
          name: `tokenizer#${i}`,
          entry: new URL("./worker.ts", import.meta.url),
          init: families,
          role: "tokenizer",
          ...opts,
        }),
    );
  }

  ready(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.firstReady));
  }

  /** Rejects with the signal's reason as soon as it aborts; the worker stops before its next text. */
  encode(texts: string[], signal: AbortSignal): Promise<Record<string, PackedRows>> {
    const up = this.workers.filter((w) => w.up);
    const target = (up.length ? up : this.workers).reduce((a, b) => (b.busy < a.busy ? b : a));
    const cancel = new SharedArrayBuffer(4);
    const abandoned = new Promise<never>((_, reject) =>
      signal.addEventListener(
        "abort",
        () => {
          Atomics.store(new Int32Array(cancel), 0, 1);
          reject(signal.reason);
        },
        { once: true },
      ),
    );
    return Promise.race([target.call({ texts, cancel }), abandoned]);
  }

  stop() {
    this.workers.forEach((w) => w.stop());
  }
}
