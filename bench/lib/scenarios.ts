import type { ArrivalPlan } from "./arrival.ts";

/**
 * The graders' four scenarios (../shared/docs/LOADTEST.md), run back to back. Where the published
 * description gives rates but not the time between them (highload, spike ramps), the durations are
 * our reading; they add up to the published ~8.5 minutes.
 */
export type Scenario =
  | { name: string; kind: "arrival"; plan: ArrivalPlan }
  | { name: string; kind: "closed"; clients: number; durationS: number };

export const GRADERS: Scenario[] = [
  {
    name: "does_it_even_work",
    kind: "arrival",
    plan: { startRate: 1, maxInFlight: 1, stages: [{ durationS: 60, target: 1 }] },
  },
  {
    name: "highload",
    kind: "arrival",
    plan: {
      startRate: 10,
      maxInFlight: 50,
      stages: [
        { durationS: 20, target: 30 },
        { durationS: 20, target: 60 },
        { durationS: 60, target: 60 },
        { durationS: 10, target: 40 },
        { durationS: 50, target: 40 },
        { durationS: 10, target: 60 },
        { durationS: 10, target: 10 },
        { durationS: 10, target: 0 },
      ],
    },
  },
  {
    name: "spike",
    kind: "arrival",
    plan: {
      startRate: 0,
      maxInFlight: 50,
      stages: [
        { durationS: 20, target: 200 },
        { durationS: 120, target: 200 },
        { durationS: 10, target: 0 },
      ],
    },
  },
  { name: "stress_speed_test", kind: "closed", clients: 10, durationS: 120 },
];
