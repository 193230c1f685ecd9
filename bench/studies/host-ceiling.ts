/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-30-performance.md (section 4).
 * The host-side ceiling (issue 16, part 4): requests/s the service's host path (HTTP, JSON,
 * tokenization, batching, worker hand-offs, scoring) sustains on ONE core, with models so small that
 * inference is almost free, and the load generator on another core.
 *   bun bench/make-engines.ts --size tiny /tmp/tiny-engines
 *   bun bench/studies/host-ceiling.ts --engines /tmp/tiny-engines [--clients 1,2,4,8,16,32,64] [--seconds 15] [--out FILE.md]
 * Needs two cores and `taskset` (util-linux): the service is pinned to core 0, this process to core 1.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { SHARED } from "../../testkit/shared.ts";
import { closedLoop } from "../closed-loop.ts";
import { startServiceProcess } from "../../testkit/child.ts";
import { loadTexts } from "../lib/texts.ts";

/** Pins every thread of process `pid` (those it has now and those it starts) to `core`. */
function pin(pid: number, core: number) {
  const r = Bun.spawnSync(["taskset", "-a", "-p", "-c", String(core), String(pid)]);
  if (r.exitCode !== 0) throw new Error(`taskset failed: ${r.stderr.toString()}`);
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: "string" },
      clients: { type: "string", default: "1,2,4,8,16,32,64" },
      seconds: { type: "string", default: "15" },
      out: { type: "string" },
    },
  });
  if (!values.engines || availableParallelism() < 2) {
    console.error(
      "usage (two cores or more): bun bench/studies/host-ceiling.ts --engines TINY_ENGINES_DIR [--out FILE]",
    );
    return 2;
  }
  pin(process.pid, 1);
  const service = await startServiceProcess(
    resolve(values.engines),
    8330,
    { INTRA_OP_THREADS: "1", VERIFY_WEIGHTS: "size" },
    ["taskset", "-c", "0", "bun", "app/index.ts"],
  );
  const rows: string[] = [];
  try {
    const texts = loadTexts("graders", SHARED, 5000, 3);
    await closedLoop(service.url, 4, 3, texts.slice(-200)); // warm the HTTP path and the workers
    for (const c of values.clients.split(",").map(Number)) {
      const r = await closedLoop(service.url, c, Number(values.seconds), texts);
      rows.push(
        `| ${c} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failures} |`,
      );
      console.log(`${c} clients: ${r.rps.toFixed(0)} req/s on one core, p50 ${r.p50.toFixed(1)} ms`);
    }
  } finally {
    await service.stop();
  }
  const md = [
    "## Host-side ceiling (one core, tiny models)",
    "",
    `Command: \`bun bench/studies/host-ceiling.ts ${argv.join(" ")}\`; ${cpus()[0]?.model ?? "?"}. The service ` +
      "(HTTP thread, tokenizer threads, five inference workers) pinned to core 0 with `taskset`; the load " +
      "generator (closed loop, the graders' texts) pinned to core 1. Inference on the tiny models is almost " +
      "free, so this is what the host path alone sustains per core.",
    "",
    "| clients | req/s (one core) | p50 ms | p95 ms | p99 ms | failures |",
    "|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
  ].join("\n");
  if (values.out) writeFileSync(values.out, md);
  console.log(md);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
