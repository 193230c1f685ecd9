import { describe, expect, test } from "bun:test";
import type { BatchResult, RunnerState } from "../batching/runner.ts";
import type { ExecutionProvider } from "../config.ts";
import type { RowRef } from "../tokenize/pack.ts";
import { type AloneWorker, AloneRuns, ModelFailed } from "./alone-runs.ts";

/** A worker whose state and calls the test sets; it answers each row with logits [its length]. */
class FakeWorker implements AloneWorker {
  state: RunnerState = "up";
  busy = 0;
  provider: ExecutionProvider = "cpu";
  readonly ran: number[] = [];
  constructor(readonly name: string) {}
  get up() {
    return this.state === "up";
  }
  onState() {}
  async run(rows: RowRef[]): Promise<BatchResult> {
    this.ran.push(rows[0].length);
    return { logits: new Float32Array([rows[0].length]), numLabels: 1, runMs: 1 };
  }
}

const row = (length: number): RowRef => ({ buffer: new SharedArrayBuffer(4), offset: 0, length });

function retries(workers: FakeWorker[], backUpWithinMs = 60_000) {
  const told = { done: 0, failed: [] as Error[] };
  const runs = new AloneRuns(workers, {
    signal: new AbortController().signal,
    onRetriesDone: () => told.done++,
    onModelFailed: (e) => told.failed.push(e),
    backUpWithinMs,
  });
  return { runs, told };
}

describe("AloneRuns after a crash", () => {
  test("a row waits for a worker that is up and holds no call; the model's other rows are held until the last retry is answered", async () => {
    const [a, b] = [new FakeWorker("a"), new FakeWorker("b")];
    a.busy = 1; // a batch sent before the retries began
    b.state = "down";
    const { runs, told } = retries([a, b]);
    const answers = [runs.afterCrash(row(3)), runs.afterCrash(row(5))];
    expect(runs.retryingAfterCrash).toBe(true);
    await Bun.sleep(60);
    expect([a.ran, b.ran]).toEqual([[], []]);
    a.busy = 0;
    expect((await Promise.all(answers)).map((x) => ("logits" in x ? x.logits[0] : null))).toEqual([3, 5]);
    expect(a.ran).toEqual([3, 5]);
    expect([runs.retryingAfterCrash, told.done]).toEqual([false, 1]);
  });

  test("no worker back up within backUpWithinMs: the model fails once, and the rows after it fail without waiting again", async () => {
    const worker = new FakeWorker("w");
    worker.state = "down";
    const { runs, told } = retries([worker], 50);
    const started = performance.now();
    const settled = await Promise.allSettled([runs.afterCrash(row(1)), runs.afterCrash(row(2))]);
    expect(performance.now() - started).toBeLessThan(50 * 2 + 500);
    for (const s of settled) {
      expect(s.status).toBe("rejected");
      if (s.status === "rejected") {
        expect(s.reason).toBeInstanceOf(ModelFailed);
        expect(s.reason.message).toBe("no worker of the model was up again within 50 ms (w down)");
      }
    }
    expect(told.failed.length).toBeGreaterThanOrEqual(1);
    expect(new Set(told.failed).size).toBe(1);
    await expect(runs.afterCrash(row(3))).rejects.toBe(told.failed[0]);
  });
});
