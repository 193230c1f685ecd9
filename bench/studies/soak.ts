/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-11-21-soak-tiny.md.
 * Soak: mixed valid and invalid traffic at a steady arrival rate (80% of measured capacity by
 * default) against a service this script starts, for a set time. Reports unexpected answers
 * (a valid text not answered 200, an invalid request not given its promised 4xx, any 5xx or
 * connection error) and the server's RSS over time. Not part of CI.
 *   bun bench/make-engines.ts --size tiny /tmp/tiny-engines
 *   bun bench/studies/soak.ts --engines /tmp/tiny-engines --minutes 10
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { loadConfig } from "../../app/config.ts";
import { spawnService } from "../../testkit/child.ts";
import { sharedFile } from "../../testkit/shared.ts";
import { hostileCases, hostileText, prng, type HostileCase } from "../../testkit/hostile.ts";
import { mean, percentile, rssMb } from "../lib/load.ts";

const { values: args } = parseArgs({
  options: {
    engines: { type: "string" },
    minutes: { type: "string", default: "10" },
    rate: { type: "string" },
    fraction: { type: "string", default: "0.8" },
    invalid: { type: "string", default: "0.2" },
    seed: { type: "string", default: "1" },
    "sample-seconds": { type: "string", default: "30" },
    out: { type: "string" },
  },
});
if (!args.engines) {
  console.error(
    "usage: bun bench/studies/soak.ts --engines DIR [--minutes 10] [--rate N | --fraction 0.8] [--invalid 0.2] [--out FILE]",
  );
  process.exit(2);
}

const tweets = readFileSync(sharedFile("corpora", "tweeteval-sentiment", "test_text.txt"), "utf8")
  .split("\n")
  .filter(Boolean);
// The child service's limits: it inherits this environment.
const limits = loadConfig();
const r = prng(Number(args.seed));
const invalid = hostileCases(Number(args.seed), limits).filter((c) => c.expect.status !== 200);

function nextRequest(): HostileCase {
  if (r.next() < Number(args.invalid)) return r.pick(invalid);
  const text = r.next() < 0.9 ? r.pick(tweets) : hostileText(r);
  return {
    kind: "valid",
    method: "POST",
    path: "/process",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(text),
    expect: { status: 200 },
  };
}

const service = await spawnService({ ENGINES_DIR: args.engines });
const pid = service.proc.pid;
const idleRss = rssMb(pid);
console.log(`service pid ${pid} at ${service.url}, RSS ${idleRss.toFixed(0)} MB`);

/** Closed loop of `clients` sending the soak's own mix: the capacity the arrival rate is a fraction of. */
async function mixCapacity(clients: number, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const c = nextRequest();
        await fetch(service.url + c.path, {
          method: c.method,
          headers: c.headers,
          body: c.body as BodyInit | undefined,
        }).then(
          (res) => res.arrayBuffer(),
          () => {},
        );
        done++;
      }
    }),
  );
  return done / seconds;
}

let rate = Number(args.rate ?? 0);
if (!rate) {
  const capacity = await mixCapacity(16, 20);
  rate = Math.max(1, Math.round(capacity * Number(args.fraction)));
  console.log(`capacity on this mix (16 clients, 20 s): ${capacity.toFixed(1)} req/s → soak at ${rate} req/s`);
}

interface Sample {
  minute: number;
  sent: number;
  ok: number;
  expectedErrors: number;
  unexpected: number;
  p50: number;
  p95: number;
  rss: number;
}
const samples: Sample[] = [];
const unexpected = new Map<string, number>();
let sent = 0;
let ok = 0;
let expectedErrors = 0;
let unexpectedCount = 0;
let inFlight = 0;
let dropped = 0;
let window: number[] = [];
const MAX_IN_FLIGHT = 512;

async function send(c: HostileCase) {
  const started = performance.now();
  let status = 0;
  let code = "";
  try {
    const res = await fetch(service.url + c.path, {
      method: c.method,
      headers: c.headers,
      body: c.body as BodyInit | undefined,
    });
    status = res.status;
    const body = await res.json().catch(() => null);
    code = body?.error?.code ?? "";
  } catch (e) {
    code = `connection error: ${e instanceof Error ? e.message : e}`;
  }
  if (c.expect.status === 200) window.push(performance.now() - started);
  if (status === c.expect.status && (!c.expect.code || code === c.expect.code))
    status === 200 ? ok++ : expectedErrors++;
  else {
    unexpectedCount++;
    const key = `${c.kind}: got ${status} ${code}, expected ${c.expect.status} ${c.expect.code ?? ""}`;
    unexpected.set(key, (unexpected.get(key) ?? 0) + 1);
  }
}

const durationMs = Number(args.minutes) * 60_000;
const sampleMs = Number(args["sample-seconds"]) * 1000;
const start = performance.now();
let nextSample = start + sampleMs;
samples.push({ minute: 0, sent: 0, ok: 0, expectedErrors: 0, unexpected: 0, p50: NaN, p95: NaN, rss: rssMb(pid) });
// Open loop: arrivals at a fixed rate whatever the answers do (a closed loop would slow down with the server).
for (let i = 0; ; i++) {
  const due = start + (i * 1000) / rate;
  if (due - start >= durationMs) break;
  const wait = due - performance.now();
  if (wait > 1) await Bun.sleep(wait);
  if (inFlight >= MAX_IN_FLIGHT) dropped++;
  else {
    inFlight++;
    sent++;
    send(nextRequest()).finally(() => inFlight--);
  }
  if (performance.now() >= nextSample) {
    window.sort((a, b) => a - b);
    const s = {
      minute: (performance.now() - start) / 60_000,
      sent,
      ok,
      expectedErrors,
      unexpected: unexpectedCount,
      p50: percentile(window, 50),
      p95: percentile(window, 95),
      rss: rssMb(pid),
    };
    samples.push(s);
    window = [];
    nextSample += sampleMs;
    console.log(
      `${s.minute.toFixed(1)} min: ${s.sent} sent, ${s.ok} ok, ${s.expectedErrors} expected 4xx, ${s.unexpected} unexpected, p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms, RSS ${s.rss.toFixed(0)} MB`,
    );
  }
}
while (inFlight > 0) await Bun.sleep(10);
const finalRss = rssMb(pid);
service.proc.kill("SIGTERM");
const exitCode = await service.proc.exited;

// RSS drift: the least-squares slope over the samples after the first minute (warm-up), in MB per minute.
const steady = samples.filter((s) => s.minute >= 1);
const mx = mean(steady.map((s) => s.minute));
const my = mean(steady.map((s) => s.rss));
const slope =
  steady.reduce((n, s) => n + (s.minute - mx) * (s.rss - my), 0) / steady.reduce((n, s) => n + (s.minute - mx) ** 2, 0);

const command = `bun bench/studies/soak.ts ${process.argv.slice(2).join(" ")}`;
const report = [
  `# Soak run, ${new Date().toISOString().slice(0, 10)}, ${hostname()}`,
  "",
  `- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Bun ${Bun.version}; load generator on the same machine.`,
  `- Command: \`${command}\``,
  `- Engines: ${args.engines}; arrival rate ${rate} req/s for ${args.minutes} min; ${Math.round(Number(args.invalid) * 100)}% invalid requests (${new Set(invalid.map((c) => c.kind)).size} kinds from testkit/hostile.ts).`,
  "",
  `**${sent} requests: ${ok} answered 200, ${expectedErrors} given their promised 4xx, ${unexpectedCount} unexpected; ${dropped} arrivals dropped (over ${MAX_IN_FLIGHT} in flight). Server exit code after SIGTERM: ${exitCode}.**`,
  "",
  `RSS: ${idleRss.toFixed(0)} MB idle after start, ${samples[0].rss.toFixed(0)} MB after the capacity probe, ${steady[0]?.rss.toFixed(0) ?? "?"} MB at 1 min, ${finalRss.toFixed(0)} MB at the end, max ${Math.max(...samples.map((s) => s.rss)).toFixed(0)} MB; drift after warm-up ${slope.toFixed(2)} MB/min.`,
  "",
  "| minute | sent | 200 | expected 4xx | unexpected | p50 ms (valid) | p95 ms (valid) | RSS MB |",
  "|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...samples.map(
    (s) =>
      `| ${s.minute.toFixed(1)} | ${s.sent} | ${s.ok} | ${s.expectedErrors} | ${s.unexpected} | ${s.p50.toFixed(1)} | ${s.p95.toFixed(1)} | ${s.rss.toFixed(0)} |`,
  ),
  "",
  unexpected.size
    ? ["Unexpected answers:", ...[...unexpected].map(([k, n]) => `- ${n} × ${k}`)].join("\n")
    : "No unexpected answers.",
  "",
].join("\n");
console.log(report);
if (args.out) writeFileSync(args.out, report);
process.exit(unexpectedCount === 0 && exitCode === 0 ? 0 : 1);
