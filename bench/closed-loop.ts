/**
 * Closed-loop load on a running service: N clients, each sending the next text as soon as its
 * previous answer arrives, for a fixed time. Texts: tweets from ../shared/corpora (tweeteval).
 *   bun bench/closed-loop.ts --url http://127.0.0.1:8000 --clients 32 --seconds 20
 * The full benchmark suite (the graders' scenarios, peers, reports) builds on this.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { sharedFile } from "../testkit/shared.ts";
import { post, summarize } from "./lib/load.ts";

/** N clients, each sending its next text when its previous answer arrives, for `seconds`. */
export async function closedLoop(url: string, clients: number, seconds: number, texts: string[]) {
  const samples: { end: number; ms: number; ok: boolean }[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const text = texts[next++ % texts.length];
        const started = performance.now();
        const ok = await post(url, text);
        samples.push({ end: performance.now() - start, ms: performance.now() - started, ok });
      }
    }),
  );
  // Requests still running at `end` finish after it: divide by the time actually taken, or a
  // loop of many slow clients reports up to `clients` answers more than it got in `seconds`.
  const elapsed = (performance.now() - start) / 1000;
  return { clients, seconds: elapsed, ...summarize(samples, elapsed) };
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string", default: "http://127.0.0.1:8000" },
      clients: { type: "string", default: "1,32" },
      seconds: { type: "string", default: "20" },
    },
  });
  const texts = readFileSync(sharedFile("corpora", "tweeteval-sentiment", "test_text.txt"), "utf8")
    .split("\n")
    .filter(Boolean);
  for (const c of values.clients.split(",").map(Number)) {
    const r = await closedLoop(values.url, c, Number(values.seconds), texts);
    console.log(
      `${r.clients} clients: ${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.requests} requests, ${r.failures} failures`,
    );
  }
}

if (import.meta.main) await main();
