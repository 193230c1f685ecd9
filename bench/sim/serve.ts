/**
 * The service on a simulated T4 (benchmarks only): the real app, configured from the environment as
 * app/index.ts is, told it runs on a Tesla T4 (GPU batch limits apply, /models says cuda) while each
 * model's worker loads on the CPU, and every batch sent through one shared simulated device
 * (bench/sim/device.ts). Answers come from the real (tiny) models.
 *
 *   ENGINES_DIR=/tmp/tiny-engines PORT=8320 bun bench/sim/serve.ts
 *
 * Extra environment: SIM_EFFICIENCY and SIM_RUN_OVERHEAD_MS replace the device model's constants;
 * SIM_STATS_FILE receives the device's counters as JSON at SIGTERM. GET /sim/device answers them live.
 * SIM_PACKING: how the device is charged for a batch, padded or packed (bench/sim/packing.ts layoutRule;
 * default "service": what lib/gpu/packing.ts decides).
 */
import { writeFileSync } from "node:fs";
import { Elysia } from "elysia";
import { loadConfig } from "../../app/config.ts";
import { type RunningService, startService } from "../../app/main.ts";
import type { HostGpuFacts } from "../../lib/gpu/probe.ts";
import { gpuStandIn } from "../../testkit/gpu-stand-in.ts";
import { realClock } from "../lib/arrival.ts";
import { type DeviceModel, SimulatedDevice, T4_FP32 } from "./device.ts";
import { SIM_STATS_ROUTE, simStats } from "./sim-stats.ts";
import { layoutRule } from "./packing.ts";
import { SimulatedRunner } from "./simulated-runner.ts";
import { standInFor } from "./stand-in.ts";

/** What a g4dn's probe finds (no TensorRT engine is built, so each model takes CUDA). */
const T4_HOST: HostGpuFacts = {
  gpu: { name: "Tesla T4", computeCapability: "7.5", driver: "550.127.05", memoryMiB: 15360 },
  tensorrt: null,
  providerLibs: { cuda: true, tensorrt: false },
};

/** Loads of a GPU candidate on the CPU per model before the stand-in "GPU" fails: restarts included, never reached. */
const STAND_IN_LOADS = 1_000_000;

function deviceModel(env: Record<string, string | undefined>): DeviceModel {
  const number = (name: string, fallback: number) => {
    const v = env[name] === undefined ? fallback : Number(env[name]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got ${env[name]}`);
    return v;
  };
  return {
    ...T4_FP32,
    efficiency: number("SIM_EFFICIENCY", T4_FP32.efficiency),
    runOverheadMs: number("SIM_RUN_OVERHEAD_MS", T4_FP32.runOverheadMs),
  };
}

const config = loadConfig();
const clock = realClock();
const device = new SimulatedDevice(deviceModel(process.env), clock);
const layoutOf = layoutRule(process.env.SIM_PACKING);
let running: RunningService | null = null;
const stats = () => simStats(device.model, device.stats(), running?.service.observe().models ?? []);
running = await startService(config, {
  hostFacts: T4_HOST,
  workerEntry: gpuStandIn(STAND_IN_LOADS),
  wrapRunner: (record, worker) => new SimulatedRunner(worker, device, standInFor(record).work, clock, layoutOf),
  plugins: [new Elysia({ name: "sim/device" }).get(SIM_STATS_ROUTE, stats)],
});
running.logger.info(
  { port: running.port, device: device.model, packing: process.env.SIM_PACKING ?? "service" },
  "simulated T4 ready",
);

for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, async () => {
    if (process.env.SIM_STATS_FILE) writeFileSync(process.env.SIM_STATS_FILE, JSON.stringify(stats(), null, 2));
    await running.drain({ signal });
    process.exit(0);
  });
