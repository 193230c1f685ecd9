/**
 * The simulated-T4 run's report (markdown, a section to paste into a results file) and its goals,
 * from the measured numbers alone: pure, so a fixed result is checked without a load.
 */
import type { BatchPolicyOptions } from "../../app/batching/policy.ts";
import type { LoadStats } from "../lib/load.ts";
import type { GpuProvider } from "../../lib/gpu/packing.ts";
import type { DeviceMaximum, DeviceModel } from "./device.ts";
import { PACKING_MARGIN, type PackingChoice } from "./packing.ts";
import type { SimWindow } from "./sim-stats.ts";

/** The saturation mode's scenario name (a closed loop of many clients). */
export const SATURATION = "saturation";
/** The scenario whose p50 is held to one simulated run. */
export const ONE_PER_SECOND = "does_it_even_work";

/** Goals of issue 16, item 3. */
const GOALS = { saturationShare: 0.9, p50OverOneRun: 1.1 };

/** One model as the device is charged for it. */
export interface SimModel {
  key: string;
  hubId: string;
  layers: number;
  hidden: number;
  weightBytesRead: number;
  /** Median token length of the texts for this model (truncated). */
  medianLength: number;
  /** The device time of one row at the median length, and of the largest batch the limits allow at it. */
  oneRowMs: number;
  fullBatch: { rows: number; ms: number };
}

export interface SimScenario {
  name: string;
  /** Arrival scenarios: the planned mean rate; closed loops: their clients. */
  offeredRps?: number;
  clients?: number;
  load: LoadStats;
  window: SimWindow;
}

export interface SimResult {
  date: string;
  command: string;
  device: DeviceModel;
  limits: BatchPolicyOptions;
  timeScale: number;
  /** Texts the maximum and one run were computed over. */
  texts: number;
  models: SimModel[];
  maximum: DeviceMaximum;
  /** One request alone on the idle device (the five batch-1 runs, one after another), over the texts. */
  oneRun: { p50Ms: number; meanMs: number };
  scenarios: SimScenario[];
  /** Packed or padded on the GPU (absent in older results). */
  packing?: SimPacking;
}

/** Packed or padded batches on the simulated GPU: the choice per provider, and saturation under each layout. */
export interface SimPacking {
  choices: PackingChoice[];
  /** lib/gpu/packing.ts's caps when the run was made (0: padded). */
  served: Record<GpuProvider, number>;
  /** The saturation scenario under each SIM_PACKING setting (none when the run had no saturation scenario). */
  saturation: { setting: string; scenario: SimScenario }[];
}

export interface GoalCheck {
  goal: string;
  measured: string;
  met: boolean | null;
}

export function goalChecks(r: SimResult): GoalCheck[] {
  const saturation = r.scenarios.find((s) => s.name === SATURATION);
  const slow = r.scenarios.find((s) => s.name === ONE_PER_SECOND);
  const failures = r.scenarios.reduce((n, s) => n + s.load.failures, 0);
  const share = saturation && { ratio: saturation.load.rps / r.maximum.requestsPerS, rps: saturation.load.rps };
  const p50 = slow && { ratio: slow.load.p50 / r.oneRun.p50Ms, ms: slow.load.p50 };
  return [
    {
      goal: `saturation ≥ ${GOALS.saturationShare} × the simulated maximum`,
      measured: share ? `${share.ratio.toFixed(2)} (${share.rps.toFixed(1)} req/s)` : "not run",
      met: share ? share.ratio >= GOALS.saturationShare : null,
    },
    {
      goal: `p50 at 1 req/s ≤ ${GOALS.p50OverOneRun} × one simulated run`,
      measured: p50 ? `${p50.ratio.toFixed(2)} (${p50.ms.toFixed(1)} ms)` : "not run",
      met: p50 ? p50.ratio <= GOALS.p50OverOneRun : null,
    },
    { goal: "no failures", measured: String(failures), met: failures === 0 },
  ];
}

const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : "–");

export function simReport(r: SimResult): string {
  const d = r.device;
  const out: string[] = [
    `### Simulated T4 (${r.date})`,
    "",
    `\`${r.command}\``,
    "",
    "**The model (a model, not a measurement).** One device timeline stands for one T4 shared by the five",
    "models' workers; runs queue on it FIFO in the order batches are dispatched (one GPU, kernels serialised).",
    `A run of rows × len takes weight bytes ÷ ${d.memoryBandwidth / 1e9} GB/s + FLOPs ÷ (${d.peakFlops / 1e12} TFLOP/s`,
    `× ${d.efficiency}) + ${d.runOverheadMs} ms. FP32: the T4 has no TF32, and cuBLAS FP32 GEMMs reach about half of`,
    `peak at 70 W; ${d.runOverheadMs} ms stands for a 12-layer encoder's ~100 kernel launches, the copies and the`,
    "synchronisation. FLOPs: 2 per matrix parameter per token, 2 per head parameter per row, attention's QKᵀ and AV",
    "(bench/lib/flops.ts, from each hub model's config.json); weight bytes: every FP32 weight but the word-embedding",
    "table. Answers come from tiny random models (same tokenizers, labels and path: HTTP → tokenize → batch →",
    "worker); a batch is answered at the later of its device slot's end and the tiny model's answer.",
    "",
    `Limits in force: MAX_BATCH_SIZE ${r.limits.maxBatchSize}, MAX_BATCH_TOKENS ${r.limits.maxBatchTokens},`,
    `MAX_QUEUE_DELAY_MS ${r.limits.maxQueueDelayMs}. Time scale ${r.timeScale} (rates never scaled).`,
    "",
    "| model | stands for | layers × hidden | weights read/run | median len | 1 row | fullest batch at median len |",
    "|---|---|---|---|---|---|---|",
    ...r.models.map(
      (m) =>
        `| ${m.key} | ${m.hubId} | ${m.layers} × ${m.hidden} | ${f(m.weightBytesRead / 1e6, 0)} MB | ${m.medianLength} | ` +
        `${f(m.oneRowMs, 2)} ms | ${m.fullBatch.rows} rows: ${f(m.fullBatch.ms, 2)} ms (${f(m.fullBatch.ms / m.fullBatch.rows, 2)} ms/row) |`,
    ),
    "",
    `**Simulated maximum** over ${r.texts} graders' texts: ${f(r.maximum.requestsPerS)} req/s ` +
      `(${f(r.maximum.msPerRequest, 2)} ms of device time per request; every model's texts sorted by length and cut ` +
      `into the fullest batches of up to 32 rows and 16,384 padded tokens (\`MAX_BATCH_SIZE\`'s and \`MAX_BATCH_TOKENS\`' first defaults and the TensorRT profile's maximum batch; a run's own limits if larger): mean ${f(r.maximum.meanRows)} rows, padding efficiency ` +
      `${pct(r.maximum.paddingEfficiency)}; the device never idle).`,
    `**One simulated run** (one request alone: the five batch-1 runs, serialised): p50 ${f(r.oneRun.p50Ms, 2)} ms, ` +
      `mean ${f(r.oneRun.meanMs, 2)} ms over the texts.`,
    "",
    "| scenario | offered | req/s | ÷ maximum | p50 ms | p95 ms | p50 ÷ one run | mean batch | padding eff. | failures | dropped | device busy |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...r.scenarios.map((s) => {
      const offered = s.clients !== undefined ? `${s.clients} clients` : `${f(s.offeredRps ?? Number.NaN)} req/s`;
      return (
        `| ${s.name} | ${offered} | ${f(s.load.rps)} | ${f(s.load.rps / r.maximum.requestsPerS, 2)} | ` +
        `${f(s.load.p50)} | ${f(s.load.p95)} | ${f(s.load.p50 / r.oneRun.p50Ms, 2)} | ${f(s.window.meanBatch)} | ` +
        `${pct(s.window.paddingEfficiency)} | ${s.load.failures} | ${s.load.dropped} | ${pct(s.window.utilisation)} |`
      );
    }),
    "",
    "| goal | measured | met |",
    "|---|---|---|",
    ...goalChecks(r).map((g) => `| ${g.goal} | ${g.measured} | ${g.met === null ? "–" : g.met ? "yes" : "no"} |`),
    "",
    "Assumptions: memory and arithmetic do not overlap within a run (their times add); efficiency does not depend",
    "on the batch's shape (small GEMMs at batch 1 reach less in reality, so batch-1 runs are optimistic); runs of",
    "different models never overlap (no concurrent kernels); host ↔ device copies are inside the fixed overhead;",
    "the host side (HTTP, tokenization, the tiny models) runs for real on this machine and is not scaled to a g4dn.",
    "",
  ];
  if (r.packing) out.push(...packingSection(r.packing, r.maximum), "");
  return out.join("\n");
}

/** What the cost model leaves out that decides packed against padded on a real GPU. */
const PACKING_UNKNOWNS = [
  "the gathers: the packed graph moves q, k and v into [rows, longest row] and the attention output back " +
    "(Gather/GatherND per layer), memory traffic the model does not charge (it counts weights only): on the card " +
    "they are small beside the GEMMs, but not free;",
  "kernel fusion: a fused attention kernel (FlashAttention-style, or TensorRT's fused MHA) with a varlen layout " +
    "would skip even the per-row padding left in attention; ORT's CUDA provider runs the graph's MatMul → Add(mask) " +
    "→ Softmax → MatMul unfused, and the model charges that;",
  "TensorRT: how its optimiser treats the gathers and the per-row mask is decided at build time, per engine, and " +
    "no packed engine was built here (no GPU); the model only halves TensorRT's fixed cost per run, a guess;",
  "GEMM efficiency by shape: one packed [T, hidden] product against many [rows × len, hidden] ones reaches " +
    "the same share of peak in the model; on the card the larger, unpadded product may do better;",
  "the host: packing (row ids, positions, the mask) is built on the CPU per batch, not charged.",
];

const layoutName = (cap: number) => (cap > 0 ? `packed ≤ ${cap} tokens` : "padded");

function packingSection(p: SimPacking, maximum: DeviceMaximum): string[] {
  const caps = p.choices[0]?.packed.map((x) => x.maxTokens) ?? [];
  const cell = (m: DeviceMaximum) => `${f(m.requestsPerS)} (${f(m.meanRows)} rows)`;
  const choiceRows = p.choices.map((c) =>
    [
      c.provider,
      `${f(c.device.runOverheadMs, 2)} ms`,
      cell(c.padded),
      ...c.packed.map((x) => cell(x.maximum)),
      layoutName(c.maxPackedTokens),
      layoutName(p.served[c.provider]) +
        (p.served[c.provider] === c.maxPackedTokens ? "" : " **(differs: update it)**"),
    ].join(" | "),
  );
  const padded = p.saturation.find((s) => s.setting === "padded")?.scenario;
  const saturationRows = p.saturation.map(({ setting, scenario: s }) => {
    const vsPadded = padded ? f(s.load.rps / padded.load.rps, 2) : "–";
    return (
      `| ${setting} | ${f(s.load.rps)} | ${f(s.load.rps / maximum.requestsPerS, 2)} | ${vsPadded} | ${f(s.load.p50)} | ` +
      `${f(s.load.p95)} | ${f(s.window.meanBatch)} | ${pct(s.window.packedShare)} | ${pct(s.window.utilisation)} |`
    );
  });
  return [
    "#### Packed or padded batches on the GPU",
    "",
    "A packed batch (its rows' real tokens on one axis; convert/onnx/rows.ts) costs its real tokens' matrix",
    "products, the head once per row, and attention per row in [rows, longest row] (4 × rows × longest² × hidden ×",
    "layers, as padded: bench/lib/flops.ts packedForwardFlops); a padded one costs rows × its longest row for all of",
    "it. Simulated maximum, req/s (mean",
    "rows per run): padded = every model's texts sorted by length in the fullest batches (padded's best case);",
    "packed ≤ N = texts in arrival order, packed up to N real tokens (and the same row limit). A cap is chosen only",
    `if it beats padded by ${PACKING_MARGIN * 100}% (bench/sim/packing.ts); lib/gpu/packing.ts holds what the service runs.`,
    "",
    `| provider | run overhead | padded | ${caps.map((c) => `packed ≤ ${c}`).join(" | ")} | chosen | lib/gpu/packing.ts |`,
    `|---|---|---|${caps.map(() => "---").join("|")}|---|---|`,
    ...choiceRows.map((r) => `| ${r} |`),
    "",
    ...(saturationRows.length
      ? [
          "Saturation, live, under each layout (SIM_PACKING; a packed run's service caps MAX_BATCH_TOKENS at the cap, so",
          "its batches are the ones a packing batcher of that cap forms; a batch over the cap runs padded):",
          "",
          "| SIM_PACKING | req/s | ÷ simulated maximum (padded) | ÷ padded run | p50 ms | p95 ms | mean batch | packed runs | device busy |",
          "|---|---|---|---|---|---|---|---|---|",
          ...saturationRows,
          "",
        ]
      : []),
    verdict(p),
    "",
    "What the simulation cannot know:",
    "",
    ...PACKING_UNKNOWNS.map((u) => `- ${u}`),
  ];
}

/** One sentence per provider: what was chosen, and why padded stays where it does. */
function verdict(p: SimPacking): string {
  return p.choices
    .map((c) => {
      const best = c.packed.reduce((b, x) => (x.maximum.requestsPerS > b.maximum.requestsPerS ? x : b));
      const share = f(best.maximum.requestsPerS / c.padded.requestsPerS, 2);
      if (c.live)
        return (
          `${c.provider}: packed up to ${c.maxPackedTokens} tokens — even with padded at the device's best case ` +
          `(${share}), and ${f(c.live, 2)} × the padded service live at saturation, which cannot sort a stream as that best case does.`
        );
      if (c.maxPackedTokens > 0)
        return `${c.provider}: packed up to ${c.maxPackedTokens} tokens, ${share} × padded's simulated maximum.`;
      if (c.provider === "tensorrt")
        return (
          `${c.provider}: padded stays — its engine is built from the padded graph and none from the packed one ` +
          `(a profile over the packed inputs, and TensorRT's parsing of its gathers, need a GPU to check); ` +
          `at the device's best case packed reaches ${share} × padded.`
        );
      return (
        `${c.provider}: padded stays — the best packed cap (${best.maxTokens} tokens) reaches ${share} × padded's ` +
        `maximum: batches grouped by length waste only ${pct(1 - c.padded.paddingEfficiency)} of their tokens to ` +
        `padding, so packing has little to save, and packed batches formed in arrival order are no larger; what ` +
        `packing would save is within the model's margin (${PACKING_MARGIN * 100}%), and its gathers are not charged.`
      );
    })
    .join(" ");
}
