/**
 * Open-model load as k6's arrival-rate executors run it: iterations start on a schedule whatever the
 * service does; when every VU is busy (maxInFlight requests in flight), the arrival is dropped and
 * counted, never queued on the client. The schedule is pure (tested); the driver takes a clock so
 * its dropping is tested without time passing.
 */

/** Like k6's ramping-arrival-rate: the rate moves linearly from the previous target to `target` over `durationS`. */
export interface Stage {
  durationS: number;
  target: number;
}

export interface ArrivalPlan {
  startRate: number;
  stages: Stage[];
  maxInFlight: number;
}

/** Start times (ms) of every iteration: the k-th starts when the integral of the rate reaches k (k = 0, 1, ...). */
export function arrivalTimes(startRate: number, stages: Stage[]): number[] {
  const times: number[] = [];
  let t0 = 0;
  let done = 0; // arrivals before this stage (real-valued integral)
  let r0 = startRate;
  for (const { durationS: T, target: r1 } of stages) {
    const total = ((r0 + r1) / 2) * T;
    const a = (r1 - r0) / T;
    for (let k = Math.ceil(done - 1e-9); k < done + total - 1e-9; k++) {
      const need = k - done;
      const t = Math.abs(a) < 1e-12 ? need / r0 : (-r0 + Math.sqrt(Math.max(0, r0 * r0 + 2 * a * need))) / a;
      times.push((t0 + t) * 1000);
    }
    done += total;
    t0 += T;
    r0 = r1;
  }
  return times;
}

/** Stretches time and scales rates so a scenario sized for a g4dn fits a smaller box; the in-flight cap stays. */
export function scalePlan(plan: ArrivalPlan, timeScale: number, rateScale: number): ArrivalPlan {
  return {
    startRate: plan.startRate * rateScale,
    maxInFlight: plan.maxInFlight,
    stages: plan.stages.map((s) => ({ durationS: s.durationS * timeScale, target: s.target * rateScale })),
  };
}

export interface Clock {
  now(): number;
  sleepUntil(ms: number): Promise<void>;
}

export const realClock = (): Clock => {
  const start = performance.now();
  return {
    now: () => performance.now() - start,
    sleepUntil: (ms) => Bun.sleep(Math.max(0, ms - (performance.now() - start))),
  };
};

export interface ArrivalResult {
  started: number;
  dropped: number;
  /** How late iterations started against their schedule (ms): the driver's own pacing error. */
  maxLagMs: number;
}

/** Starts `send` at each time unless maxInFlight sends are running (dropped); resolves when all started sends end. */
export async function runArrivals(
  times: number[],
  maxInFlight: number,
  send: () => Promise<unknown>,
  clock: Clock = realClock(),
): Promise<ArrivalResult> {
  let inFlight = 0;
  let dropped = 0;
  let maxLagMs = 0;
  const running: Promise<unknown>[] = [];
  for (const at of times) {
    await clock.sleepUntil(at);
    maxLagMs = Math.max(maxLagMs, clock.now() - at);
    if (inFlight >= maxInFlight) {
      dropped++;
      continue;
    }
    inFlight++;
    running.push(send().finally(() => inFlight--));
  }
  await Promise.allSettled(running);
  return { started: running.length, dropped, maxLagMs };
}
