/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-30-tokenize.md.
 * What tokenization costs, and whether it holds the HTTP thread:
 *   bun bench/studies/tokenize.ts [--url http://127.0.0.1:8000] [--seconds 10]
 * 1. Per tokenizer fixture (XLM-R with a real charsmap, RoBERTa): µs per text for tweets and the
 *    graders' texts, one at a time and all at once, and a ~1 MB text with and without spaces, with
 *    the event loop's worst stall meanwhile (a 1 ms timer's lateness).
 * 2. With --url (a running service): /health/live latency, probed every 20 ms, while 32 clients send
 *    tweets, and while ~1 MB texts (the largest body allowed by default) are sent one after another.
 */
import { parseArgs } from "node:util";
import { FamilyTokenizer } from "../../app/tokenize/family-tokenizer.ts";
import { SHARED, TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { closedLoop } from "../closed-loop.ts";
import { percentile } from "../lib/load.ts";
import { loadTexts } from "../lib/texts.ts";

/** The worst lateness of a 1 ms timer while `work` runs: how long the event loop was held. */
export async function worstStall<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; stallMs: number }> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  clearInterval(timer);
  return { value, ms, stallMs: Math.max(worst, performance.now() - last - 1) };
}

/** Texts just under the default MAX_BODY_BYTES (1 MiB) once sent as a JSON string. */
const BODY = 1_000_000;
const words = ["hello", "world", "naïve", "日本語", "😜", "Bitcoin"];
function upTo(bytes: number, piece: (i: number) => string): string {
  const parts: string[] = [];
  for (let i = 0, size = 0; ; i++) {
    const p = piece(i);
    size += Buffer.byteLength(p);
    if (size > bytes) return parts.join("");
    parts.push(p);
  }
}
const withSpaces = upTo(BODY, (i) => `${words[i % words.length]} `);
const withoutSpaces = upTo(BODY, () => "漢");

async function tokenizerCosts() {
  const tweets = loadTexts("tweets", SHARED, 2000, 1).slice(0, 2000);
  const graders = loadTexts("graders", SHARED, 2000, 1).slice(0, 2000);
  const rows: string[] = [
    "| tokenizer | texts | µs/text, one at a time | µs/text, all at once | worst stall ms |",
    "|---|---|---|---|---|",
  ];
  for (const dir of ["xlmr-charsmap", "roberta-base"]) {
    const tok = await FamilyTokenizer.load(dir, `${TOKENIZER_FIXTURES}/${dir}`, 512);
    for (const [name, texts] of [
      ["tweets", tweets],
      ["graders'", graders],
    ] as const) {
      await Promise.all(texts.slice(0, 200).map((t) => tok.encode(t))); // warm
      const one = await worstStall(async () => {
        for (const t of texts) await tok.encode(t);
      });
      const all = await worstStall(() => Promise.all(texts.map((t) => tok.encode(t))));
      const us = (ms: number) => ((ms * 1000) / texts.length).toFixed(0);
      rows.push(
        `| ${dir} | ${texts.length} ${name} | ${us(one.ms)} | ${us(all.ms)} | ${Math.max(one.stallMs, all.stallMs).toFixed(1)} |`,
      );
    }
    for (const [name, text] of [
      ["~1 MB with spaces (prefix)", withSpaces],
      ["~1 MB without spaces (whole)", withoutSpaces],
    ] as const) {
      const r = await worstStall(() => tok.encode(text));
      rows.push(`| ${dir} | ${name} | ${r.ms.toFixed(0)} ms | – | ${r.stallMs.toFixed(1)} |`);
    }
  }
  return rows.join("\n");
}

/** /health/live latencies (ms) probed every 20 ms while `load` runs. */
async function livenessDuring(url: string, load: () => Promise<unknown>) {
  const latencies: number[] = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      await fetch(`${url}/health/live`);
      latencies.push(performance.now() - started);
      await Bun.sleep(20);
    }
  })();
  await load();
  running = false;
  await probe;
  latencies.sort((a, b) => a - b);
  const f = (v: number) => v.toFixed(1);
  return `p50 ${f(percentile(latencies, 50))} ms, p99 ${f(percentile(latencies, 99))} ms, max ${f(latencies.at(-1) ?? NaN)} ms (${latencies.length} probes)`;
}

async function serviceLag(url: string, seconds: number) {
  const tweets = loadTexts("tweets", SHARED, 20_000, 1);
  const lines: string[] = [];
  let loop = "";
  lines.push(`- idle: /health/live ${await livenessDuring(url, () => Bun.sleep(2000))}`);
  const under32 = await livenessDuring(url, async () => {
    const r = await closedLoop(url, 32, seconds, tweets);
    loop = `${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(1)} ms`;
  });
  lines.push(`- 32 clients sending tweets (${loop}): /health/live ${under32}`);
  for (const [name, text] of [
    ["with spaces", withSpaces],
    ["without spaces", withoutSpaces],
  ] as const) {
    let answered = 0;
    const during = await livenessDuring(url, async () => {
      const until = performance.now() + seconds * 1000;
      while (performance.now() < until) {
        const res = await fetch(`${url}/process`, {
          method: "POST",
          body: JSON.stringify(text),
          headers: { "content-type": "application/json" },
        });
        if (res.status === 200) answered++;
        await res.arrayBuffer();
      }
    });
    lines.push(`- ~1 MB texts ${name}, one after another (${answered} answered 200): /health/live ${during}`);
  }
  return lines.join("\n");
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: "string" }, seconds: { type: "string", default: "10" } },
  });
  console.log(await tokenizerCosts());
  if (values.url) console.log(`\n${await serviceLag(values.url, Number(values.seconds))}`);
}

if (import.meta.main) await main();
