import type { RestartPolicy } from "../workers/restart-policy.ts";
import { SupervisedWorker } from "../workers/supervised-worker.ts";
import type { PackedRows } from "./pack.ts";

export interface FamilySpec {
  id: string;
  dir: string;
  maxLength: number;
}

type TokenizerWorker = SupervisedWorker<FamilySpec[], string[], { families: number }, Record<string, PackedRows>>;

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
          codes: { unavailable: "inference_unavailable", failed: "internal" },
          ...opts,
        }),
    );
  }

  ready(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.firstReady));
  }

  encode(texts: string[]): Promise<Record<string, PackedRows>> {
    const up = this.workers.filter((w) => w.up);
    const target = (up.length ? up : this.workers).reduce((a, b) => (b.busy < a.busy ? b : a));
    return target.call(texts);
  }

  stop() {
    this.workers.forEach((w) => w.stop());
  }
}
