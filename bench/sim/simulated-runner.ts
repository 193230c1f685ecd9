/**
 * A model worker seen through the simulated device: the batch reserves its slot on the shared
 * timeline when it is dispatched, the real (tiny) model runs at the same time and gives the answer,
 * and the batch is answered at the later of the two, so host work that overlaps the device's time is
 * not counted twice. The device is charged for the batch in the layout the rule gives it (padded or
 * packed: bench/sim/packing.ts), whatever the tiny model does.
 */
import type { BatchResult, BatchRunner, RunnerState } from "../../app/batching/runner.ts";
import type { ExecutionProvider } from "../../app/config.ts";
import type { RowRef } from "../../app/tokenize/pack.ts";
import type { Clock } from "../lib/arrival.ts";
import { batchWork, type ModelWork, type SimulatedDevice } from "./device.ts";
import type { LayoutRule } from "./packing.ts";

export class SimulatedRunner implements BatchRunner {
  constructor(
    private readonly inner: BatchRunner,
    private readonly device: SimulatedDevice,
    /** The work of the full-size model this tiny one stands for. */
    private readonly work: ModelWork,
    private readonly clock: Clock,
    private readonly layoutOf: LayoutRule = () => "padded",
  ) {}

  get up(): boolean {
    return this.inner.up;
  }

  get provider(): ExecutionProvider {
    return this.inner.provider;
  }

  onState(fn: (state: RunnerState) => void): void {
    this.inner.onState(fn);
  }

  /**
   * runMs is the device's time from dispatch to the run's end (its wait behind other models' runs
   * included), as a worker timing session.run on a GPU shared with four other sessions would see it:
   * the service's cost estimate (admission) then learns the simulated device's speed, not the tiny model's.
   */
  async run(rows: RowRef[]): Promise<BatchResult> {
    // A worker that is down rejects at once (no run reaches a device): nothing is reserved for it.
    if (!this.inner.up) return this.inner.run(rows);
    const lengths = rows.map((r) => r.length);
    const layout = this.layoutOf(this.provider, lengths);
    const slot = this.device.reserve(batchWork(this.work, lengths, layout), rows.length, layout);
    const [result] = await Promise.all([this.inner.run(rows), this.clock.sleepUntil(slot.end)]);
    return { ...result, runMs: slot.end - slot.askedAt };
  }
}
