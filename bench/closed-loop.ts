/**
 * Closed-loop load on a running service: N clients, each sending the next text as soon as its
 * previous answer arrives, for a fixed time. Texts: tweets from ../shared/corpora (tweeteval).
 *   bun bench/closed-loop.ts --url http://127.0.0.1:8000 --clients 32 --seconds 20
 * The full benchmark suite (the graders' scenarios, peers, reports) builds on this.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export async function closedLoop(url: string, clients: number, seconds: number, texts: string[]) {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const text = texts[next++ % texts.length];
        const started = performance.now();
        let status = 0; // a connection error
        try {
          const res = await fetch(`${url}/process`, { method: "POST", body: JSON.stringify(text), headers: { "content-type": "application/json" } });
          await res.arrayBuffer();
          status = res.status;
        } catch {}
        latencies.push(performance.now() - started);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  // Requests still running at `end` finish after it: divide by the time actually taken, or a
  // loop of many slow clients reports up to `clients` answers more than it got in `seconds`.
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const failures = latencies.length - (statuses.get(200) ?? 0);
  return {
    clients,
    requests: latencies.length,
    // Answers, not attempts: a fast error is not throughput.
    rps: (latencies.length - failures) / elapsed,
    seconds: elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    failures,
  };
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({ args: argv, options: { url: { type: "string", default: "http://127.0.0.1:8000" }, clients: { type: "string", default: "1,32" }, seconds: { type: "string", default: "20" } } });
  const shared = process.env.SHARED_DIR ?? join(import.meta.dir, "..", "..", "shared");
  const texts = readFileSync(join(shared, "corpora", "tweeteval-sentiment", "test_text.txt"), "utf8").split("\n").filter(Boolean);
  for (const c of values.clients!.split(",").map(Number)) {
    const r = await closedLoop(values.url!, c, Number(values.seconds), texts);
    console.log(`${r.clients} clients: ${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.requests} requests, ${r.failures} failures`);
  }
}

if (import.meta.main) await main();
