/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-30-overload-full.md.
 * Overload: does the service shed at once, and how much of what it computes is wasted?
 *   bun bench/studies/overload.ts --engines DIR [--factor 10] [--seconds 30] [--deadline-ms 3000] [--out FILE.md]
 * Starts the service on DIR, measures its capacity on tweets (closed loop, 4 clients), then sends
 * tweets open loop at `factor` × that rate, each with x-request-timeout-ms = deadline. Wasted rows are
 * rows the models ran for requests that did not end in 200 (from /metrics: rows run per model, against
 * the 200s answered).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SHARED } from "../../testkit/shared.ts";
import { scrape } from "../../testkit/metrics.ts";
import { closedLoop } from "../closed-loop.ts";
import { percentile } from "../lib/load.ts";
import { startServiceProcess } from "../../testkit/child.ts";
import { loadTexts } from "../lib/texts.ts";

interface Outcome {
  status: number;
  ms: number;
}

/** Rows the models have run so far, summed over models (every classifier_batch_size_sum line). */
async function rowsRun(url: string): Promise<number> {
  const lines = (await scrape(url)).split("\n").filter((l) => l.startsWith("classifier_batch_size_sum{"));
  return lines.reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
}

/** Open loop at `rate` per second for `seconds`: every arrival is sent, whatever is in flight. */
async function openLoop(url: string, rate: number, seconds: number, texts: string[], deadlineMs: number) {
  const outcomes: Outcome[] = [];
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const sent = performance.now();
    inFlight.push(
      fetch(`${url}/process`, {
        method: "POST",
        body: JSON.stringify(texts[i % texts.length]),
        headers: { "content-type": "application/json", "x-request-timeout-ms": String(deadlineMs) },
      }).then(
        async (res) => {
          await res.arrayBuffer();
          outcomes.push({ status: res.status, ms: performance.now() - sent });
        },
        () => void outcomes.push({ status: 0, ms: performance.now() - sent }),
      ),
    );
  }
  await Promise.all(inFlight);
  return outcomes;
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string" },
      factor: { type: "string", default: "10" },
      seconds: { type: "string", default: "30" },
      "deadline-ms": { type: "string", default: "3000" },
      port: { type: "string", default: "8330" },
      out: { type: "string" },
    },
  });
  if (!values.engines) throw new Error("--engines DIR is required");
  const tweets = loadTexts("tweets", SHARED, 20_000, 1);
  const service = await startServiceProcess(values.engines, Number(values.port), { LOG_LEVEL: "error" });
  const { url } = service;
  try {
    const capacity = (await closedLoop(url, 4, 15, tweets)).rps;
    const models = ((await (await fetch(`${url}/models`)).json()) as unknown[]).length;
    const rate = capacity * Number(values.factor);
    const before = await rowsRun(url);
    const outcomes = await openLoop(
      url,
      rate,
      Number(values.seconds),
      tweets.slice(5000),
      Number(values["deadline-ms"]),
    );
    await Bun.sleep(500);
    const run = (await rowsRun(url)) - before;
    const byStatus = new Map<number, Outcome[]>();
    for (const o of outcomes) byStatus.set(o.status, [...(byStatus.get(o.status) ?? []), o]);
    const ok = byStatus.get(200)?.length ?? 0;
    const useful = ok * models;
    const lines = [
      `# Overload: ${values.factor}× capacity for ${values.seconds} s, deadline ${values["deadline-ms"]} ms`,
      "",
      `Command: \`bun bench/studies/overload.ts --engines ${values.engines} --factor ${values.factor} --seconds ${values.seconds} --deadline-ms ${values["deadline-ms"]}\``,
      "",
      `- capacity (closed loop, 4 clients, tweets): ${capacity.toFixed(2)} req/s; offered ${rate.toFixed(1)} req/s, ${outcomes.length} requests`,
      ...[...byStatus]
        .sort((a, b) => a[0] - b[0])
        .map(([status, os]) => {
          const ms = os.map((o) => o.ms).sort((a, b) => a - b);
          return `- ${status}: ${os.length} (${((100 * os.length) / outcomes.length).toFixed(1)}%), p50 ${percentile(ms, 50).toFixed(0)} ms, p95 ${percentile(ms, 95).toFixed(0)} ms`;
        }),
      `- rows run by the models: ${run}; rows of 200 answers: ${useful} (${models} models × ${ok}); wasted: ${run - useful} (${((100 * (run - useful)) / Math.max(1, run)).toFixed(1)}%)`,
    ];
    const report = lines.join("\n");
    console.log(report);
    if (values.out) writeFileSync(values.out, `${report}\n`);
  } finally {
    await service.stop();
  }
}

if (import.meta.main) await main();
