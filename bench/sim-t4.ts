/**
 * The batch policy on a simulated T4 (bench/sim/): the real service over tiny engines, every batch
 * charged to one shared device timeline modelled on a T4 running the full-size models, under the
 * graders' four scenarios at their real rates and a saturating closed loop.
 *
 *   bun bench/make-engines.ts --size tiny /tmp/tiny-engines
 *   bun bench/sim-t4.ts --engines /tmp/tiny-engines [--scenarios does_it_even_work,highload,spike,stress_speed_test,saturation]
 *     [--time-scale 1] [--max-batch N] [--queue-delay-ms N] [--max-batch-tokens N] [--clients 64]
 *     [--saturation-s 60] [--efficiency 0.5] [--run-overhead-ms 0.5] [--out FILE.md]
 *
 * Reports, per scenario, throughput ÷ the simulated device's maximum, p50/p95, mean batch size,
 * padding efficiency, failures, dropped arrivals and the device's utilisation (bench/sim/report.ts); then
 * packed or padded batches on the GPU (bench/sim/packing.ts): each provider's choice from the simulated
 * maximum, and the saturation scenario again under the layout the service did not serve; with
 * --out, the result's JSON and its figure (<out>.svg, bench/lib/figures.ts) beside the markdown, which embeds it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BatchLimits } from "../app/batching/policy.ts";
import { loadConfig } from "../app/config.ts";
import { batchLimits } from "../app/service/model-plan.ts";
import { MAX_PACKED_TOKENS } from "../lib/gpu/packing.ts";
import { readStore, type Store } from "../lib/store/index.ts";
import { SHARED } from "../testkit/shared.ts";
import { closedLoop } from "./closed-loop.ts";
import { arrivalTimes, scalePlan } from "./lib/arrival.ts";
import { simT4Figure } from "./lib/figures.ts";
import { arrivalLoad, percentile, type LoadStats } from "./lib/load.ts";
import { GRADERS, type Scenario } from "./lib/scenarios.ts";
import { startServiceProcess } from "../testkit/child.ts";
import { loadTexts } from "./lib/texts.ts";
import { familyTokenizers, tokenCounts } from "./lib/token-counts.ts";
import {
  type DeviceModel,
  deviceMaximum,
  fullestBatches,
  type ModelLoad,
  modelledRunMs,
  oneRequestMs,
  T4_FP32,
} from "./sim/device.ts";
import {
  SATURATION,
  type SimModel,
  type SimPacking,
  simReport,
  type SimResult,
  type SimScenario,
} from "./sim/report.ts";
import { choosePacking, GPU_PROVIDERS, liveChoice, providerDevice } from "./sim/packing.ts";
import { fetchSimStats, simWindow } from "./sim/sim-stats.ts";
import { type StandIn, standInFor } from "./sim/stand-in.ts";

const USAGE =
  "usage: bun bench/sim-t4.ts --engines DIR [--scenarios a,b] [--time-scale X] [--max-batch N] " +
  "[--queue-delay-ms N] [--max-batch-tokens N] [--clients N] [--saturation-s S] [--efficiency E] " +
  "[--run-overhead-ms MS] [--texts N] [--port P] [--packing yes|no] [--out FILE.md]\n" +
  "(tiny engines: bun bench/make-engines.ts --size tiny DIR)";

/**
 * The batches the device's maximum is computed with: 32 rows (the TensorRT profile's maximum batch and
 * MAX_BATCH_SIZE's default) and 16,384 padded tokens (MAX_BATCH_TOKENS' first default): no tuned
 * default can make the maximum smaller.
 */
const MAXIMUM_LIMITS = { maxBatchSize: 32, maxBatchTokens: 16384 };

const SCENARIOS = [...GRADERS.map((s) => s.name), SATURATION];

const log = (m: string) => console.log(`[sim-t4 ${new Date().toISOString().slice(11, 19)}] ${m}`);

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string", default: process.env.BENCH_ENGINES },
      scenarios: { type: "string", default: SCENARIOS.join(",") },
      "time-scale": { type: "string", default: "1" },
      "max-batch": { type: "string" },
      "queue-delay-ms": { type: "string" },
      "max-batch-tokens": { type: "string" },
      clients: { type: "string", default: "64" },
      "saturation-s": { type: "string", default: "60" },
      efficiency: { type: "string", default: String(T4_FP32.efficiency) },
      "run-overhead-ms": { type: "string", default: String(T4_FP32.runOverheadMs) },
      packing: { type: "string", default: "yes" },
      texts: { type: "string", default: "2000" },
      port: { type: "string", default: "8320" },
      out: { type: "string" },
    },
  });
  if (!values.engines) return null;
  const scenarios = values.scenarios.split(",").filter(Boolean);
  const unknown = scenarios.filter((s) => !SCENARIOS.includes(s));
  if (unknown.length) throw new Error(`unknown scenarios ${unknown.join(", ")}; known: ${SCENARIOS.join(", ")}`);
  // The service's own batch settings, passed through its environment so its config reads them as it always does.
  const serviceEnv: Record<string, string> = {
    ...(values["max-batch"] && { MAX_BATCH_SIZE: values["max-batch"] }),
    ...(values["queue-delay-ms"] && { MAX_QUEUE_DELAY_MS: values["queue-delay-ms"] }),
    ...(values["max-batch-tokens"] && { MAX_BATCH_TOKENS: values["max-batch-tokens"] }),
  };
  const device: DeviceModel = {
    ...T4_FP32,
    efficiency: Number(values.efficiency),
    runOverheadMs: Number(values["run-overhead-ms"]),
  };
  return {
    engines: resolve(values.engines),
    scenarios,
    timeScale: Number(values["time-scale"]),
    serviceEnv,
    device,
    clients: Number(values.clients),
    saturationS: Number(values["saturation-s"]),
    texts: Number(values.texts),
    port: Number(values.port),
    /** Whether to run the packed-or-padded phase (its extra saturation run included). */
    packing: values.packing !== "no",
    out: values.out,
  };
}

type Options = NonNullable<ReturnType<typeof parseOptions>>;

/** Each text's token count for each model, as the service truncates it (the family's encoding, then the model's maximum). */
async function tokenLengths(store: Store, texts: string[]): Promise<number[][]> {
  const byFamily = new Map<string, number[]>();
  for (const [family, tok] of await familyTokenizers(store)) byFamily.set(family, await tokenCounts(tok, texts));
  return store.models.map((m) => {
    const counts = byFamily.get(m.record.tokenizer.family);
    if (!counts) throw new Error(`${m.key}: tokenizer family ${m.record.tokenizer.family} is not among the store's`);
    return counts.map((n) => Math.min(n, m.record.maxLength));
  });
}

function describeModel(standIn: StandIn, lengths: number[], device: DeviceModel, limits: BatchLimits): SimModel {
  const medianLength = percentile(
    [...lengths].sort((a, b) => a - b),
    50,
  );
  const rows = fullestBatches(Array(limits.maxBatchSize).fill(medianLength), limits)[0].rows;
  return {
    key: standIn.key,
    hubId: standIn.hubId,
    layers: standIn.shape.layers,
    hidden: standIn.shape.hidden,
    weightBytesRead: standIn.shape.weightBytesRead,
    medianLength,
    oneRowMs: modelledRunMs(device, standIn.work.padded(1, medianLength)),
    fullBatch: { rows, ms: modelledRunMs(device, standIn.work.padded(rows, medianLength)) },
  };
}

/** The planned mean rate of an arrival scenario at this time scale (rates are never scaled). */
function offeredRps(plan: Extract<Scenario, { kind: "arrival" }>["plan"]): number {
  const seconds = plan.stages.reduce((s, st) => s + st.durationS, 0);
  return arrivalTimes(plan.startRate, plan.stages).length / seconds;
}

async function runScenario(name: string, url: string, texts: string[], o: Options): Promise<SimScenario> {
  const before = await fetchSimStats(url);
  let load: LoadStats;
  let offered: Pick<SimScenario, "offeredRps" | "clients">;
  const sc = GRADERS.find((s) => s.name === name);
  if (!sc || sc.kind === "closed") {
    const clients = sc?.clients ?? o.clients;
    const seconds = (sc?.durationS ?? o.saturationS) * o.timeScale;
    load = await closedLoop(url, clients, seconds, texts);
    offered = { clients };
  } else {
    const plan = scalePlan(sc.plan, o.timeScale, 1);
    load = await arrivalLoad(url, plan, texts);
    offered = { offeredRps: offeredRps(plan) };
  }
  const window = simWindow(before, await fetchSimStats(url));
  return { name, ...offered, load, window };
}

/** The scenarios on one service process started with `env` (SIM_PACKING among it), logged as they end. */
async function runService(
  o: Options,
  env: Record<string, string>,
  names: string[],
  texts: string[],
  maximum: number,
): Promise<SimScenario[]> {
  const service = await startServiceProcess(o.engines, o.port, env, ["bun", "bench/sim/serve.ts"]);
  const scenarios: SimScenario[] = [];
  try {
    for (const name of names) {
      const s = await runScenario(name, service.url, texts, o);
      scenarios.push(s);
      log(
        `${name} (SIM_PACKING ${env.SIM_PACKING}): ${s.load.rps.toFixed(1)} req/s (${(s.load.rps / maximum).toFixed(2)} of max), ` +
          `p50 ${s.load.p50.toFixed(1)} ms, p95 ${s.load.p95.toFixed(1)} ms, batch ${s.window.meanBatch.toFixed(1)}, ` +
          `device ${(s.window.utilisation * 100).toFixed(0)}%, ${s.load.failures} failures, ${s.load.dropped} dropped`,
      );
    }
  } finally {
    await service.stop();
  }
  return scenarios;
}

/** The SIM_PACKING setting that does what lib/gpu/packing.ts decides for CUDA (the simulated T4's provider). */
const servedSetting = () => (MAX_PACKED_TOKENS.cuda > 0 ? `packed:${MAX_PACKED_TOKENS.cuda}` : "padded");

/**
 * Packed or padded: each provider's choice from the simulated maximum, then the saturation scenario
 * live under padded batches and under packed ones at CUDA's best cap; the layout the main run served
 * is not run twice. A packed run caps MAX_BATCH_TOKENS at the cap, so the service's batches are ones
 * a packing batcher of that cap would form (its budget counts padded tokens: a little under the cap).
 */
async function packingPhase(
  o: Options,
  loads: ModelLoad[],
  limits: BatchLimits,
  texts: string[],
  served: SimScenario | undefined,
  maximum: number,
): Promise<SimPacking> {
  const choices = GPU_PROVIDERS.map((p) => choosePacking(p, providerDevice(p, o.device), loads, limits));
  for (const c of choices)
    log(
      `${c.provider}: padded ${c.padded.requestsPerS.toFixed(1)} req/s; packed cap chosen ${c.maxPackedTokens || "none"}`,
    );
  const cuda = choices[0];
  const bestCap = cuda.packed.reduce((b, p) => (p.maximum.requestsPerS > b.maximum.requestsPerS ? p : b)).maxTokens;
  const saturation: SimPacking["saturation"] = [];
  // Live only where the run has a saturation scenario: the choice alone otherwise. Padded runs twice: at
  // the run's budget, and at the packed run's (a larger budget alone makes larger batches: not packing's doing).
  const runs = [
    { setting: "padded", packing: "padded", budget: null },
    { setting: `padded, MAX_BATCH_TOKENS ${bestCap}`, packing: "padded", budget: bestCap },
    { setting: `packed:${bestCap}`, packing: `packed:${bestCap}`, budget: bestCap },
  ];
  for (const { setting, packing, budget } of served ? runs : []) {
    const reuse = setting === servedSetting();
    const env = {
      ...simEnv(o),
      SIM_PACKING: packing,
      ...(budget !== null && { MAX_BATCH_TOKENS: String(budget) }),
    };
    const scenario = reuse && served ? served : (await runService(o, env, [SATURATION], texts, maximum))[0];
    saturation.push({ setting, scenario });
  }
  const live = (name: string) => saturation.find((s) => s.setting === name)?.scenario.load.rps;
  const [paddedRps, packedRps] = [live("padded"), live(`packed:${bestCap}`)];
  if (paddedRps && packedRps) choices[0] = liveChoice(cuda, paddedRps, packedRps, bestCap);
  return { choices, served: { ...MAX_PACKED_TOKENS }, saturation };
}

/** The simulated service's environment: the run's batch settings and device constants. */
const simEnv = (o: Options): Record<string, string> => ({
  ...o.serviceEnv,
  SIM_EFFICIENCY: String(o.device.efficiency),
  SIM_RUN_OVERHEAD_MS: String(o.device.runOverheadMs),
});

export async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  const store = readStore(o.engines);
  const config = loadConfig({ ENGINES_DIR: o.engines, ...o.serviceEnv });
  // What the service's workers get on a GPU without a TensorRT profile.
  const limits = batchLimits("cuda", undefined, config);
  const texts = loadTexts("graders", SHARED, 20_000, 1);
  const sample = texts.slice(0, o.texts);
  const lengths = await tokenLengths(store, sample);
  const standIns = store.models.map((m) => standInFor(m.record));
  const loads = standIns.map((s, i) => ({ work: s.work, lengths: lengths[i] }));
  // The device's best does not depend on the limits under test: fullest sorted batches of at least
  // MAXIMUM_LIMITS, or the run's own limits where they are larger.
  const best = {
    maxBatchSize: Math.max(limits.maxBatchSize, MAXIMUM_LIMITS.maxBatchSize),
    maxBatchTokens: Math.max(limits.maxBatchTokens, MAXIMUM_LIMITS.maxBatchTokens),
  };
  const maximum = deviceMaximum(o.device, loads, best);
  const oneRuns = sample
    .map((_, t) =>
      oneRequestMs(
        o.device,
        standIns.map((s, i) => ({ work: s.work.padded, length: lengths[i][t] })),
      ),
    )
    .sort((a, b) => a - b);
  const oneRun = { p50Ms: percentile(oneRuns, 50), meanMs: oneRuns.reduce((a, b) => a + b, 0) / oneRuns.length };
  log(`simulated maximum ${maximum.requestsPerS.toFixed(1)} req/s; one run p50 ${oneRun.p50Ms.toFixed(2)} ms`);

  const env = { ...simEnv(o), SIM_PACKING: "service" };
  const scenarios = await runService(o, env, o.scenarios, texts, maximum.requestsPerS);
  const served = scenarios.find((s) => s.name === SATURATION);
  const packing = o.packing ? await packingPhase(o, loads, best, texts, served, maximum.requestsPerS) : undefined;

  const result: SimResult = {
    date: new Date().toISOString().slice(0, 10),
    command: `bun bench/sim-t4.ts ${argv.join(" ")}`,
    device: o.device,
    limits: { ...limits, maxQueueDelayMs: config.batch.maxQueueDelayMs },
    timeScale: o.timeScale,
    texts: sample.length,
    models: standIns.map((s, i) => describeModel(s, lengths[i], o.device, limits)),
    maximum,
    oneRun,
    scenarios,
    packing,
  };
  const markdown = simReport(result);
  if (o.out) {
    const base = o.out.replace(/\.md$/, "");
    mkdirSync(dirname(resolve(o.out)), { recursive: true });
    writeFileSync(
      o.out,
      `${markdown}\n![offered and achieved rate of each scenario, and what each lost](${basename(base)}.svg)\n`,
    );
    writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
    writeFileSync(`${base}.svg`, await simT4Figure(result));
    log(`report: ${o.out}`);
  } else console.log(markdown);
  return 0;
}

// Exit explicitly: a handle left open must not keep a finished run alive.
if (import.meta.main) process.exit(await main(process.argv.slice(2)));
