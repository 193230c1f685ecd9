/**
 * The simulated-T4 entry end to end: the real service over tiny converted engines, as a child process,
 * every model on "cuda" and every batch charged to the one simulated device.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { convertModels } from "../../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../../testkit/fixtures.ts";
import { postProcess } from "../../testkit/server.ts";
import { type ServiceProcess, startServiceProcess } from "../../testkit/child.ts";
import { fetchSimStats, type SimStats } from "./sim-stats.ts";

setDefaultTimeout(120_000);

/** A fixed cost per run far above everything else: a request's five runs take at least 5 × this. */
const OVERHEAD_MS = 60;

let service: ServiceProcess;
let statsFile: string;

function freePort(): number {
  const probe = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

beforeAll(async () => {
  const engines = tempDir("sim-engines");
  await convertModels(tinyManifestSources(), { outDir: engines });
  statsFile = join(tempDir("sim-stats"), "device.json");
  service = await startServiceProcess(
    engines,
    freePort(),
    { SIM_RUN_OVERHEAD_MS: String(OVERHEAD_MS), SIM_STATS_FILE: statsFile },
    ["bun", "bench/sim/serve.ts"],
  );
});

afterAll(() => service?.stop());

describe("the service on a simulated T4", () => {
  test("every model says it runs on cuda (GPU limits apply) though its worker loaded on the CPU", async () => {
    const models = (await (await fetch(`${service.url}/models`)).json()) as { key: string; provider: string }[];
    expect(models).toHaveLength(5);
    expect(models.map((m) => m.provider)).toEqual(Array(5).fill("cuda"));
  });

  test("one text: answered by the real models after the five runs, one after another on the device", async () => {
    const before = await fetchSimStats(service.url);
    const started = performance.now();
    const res = await postProcess(service.url, JSON.stringify("the device is shared"));
    const elapsed = performance.now() - started;
    expect(res.status).toBe(200);
    expect(Object.keys(await res.json())).toHaveLength(5);
    const after = await fetchSimStats(service.url);
    expect(after.stats.runs - before.stats.runs).toBe(5);
    expect(after.stats.rows - before.stats.rows).toBe(5);
    expect(after.stats.busyMs - before.stats.busyMs).toBeGreaterThanOrEqual(5 * OVERHEAD_MS);
    expect(elapsed).toBeGreaterThanOrEqual(5 * OVERHEAD_MS);
    expect(after.device.runOverheadMs).toBe(OVERHEAD_MS);
    expect(after.models.map((m) => m.batches - before.models.find((b) => b.key === m.key)!.batches)).toEqual(
      Array(5).fill(1),
    );
  });

  test("at SIGTERM it writes the device's counters to SIM_STATS_FILE", async () => {
    const live = await fetchSimStats(service.url);
    await service.stop();
    const written = JSON.parse(readFileSync(statsFile, "utf8")) as SimStats;
    expect(written.stats.runs).toBe(live.stats.runs);
    expect(written.models.map((m) => m.key)).toEqual(live.models.map((m) => m.key));
  });
});
