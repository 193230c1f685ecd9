/**
 * The real process (`bun app/index.ts` as a child) while it loads and under overload: 503 not_ready
 * before the models are warm, and each request line at the level the README gives its status — 5xx at
 * error, the 503s the service announces (loading, draining, shedding) at warn, readiness's 503 at info.
 */
import { afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type LogLine, type ServiceProcess, spawnListeningService } from "../testkit/child.ts";
import { slowEngines } from "../testkit/fixtures.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { postProcess } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(60_000);

let engines: string;
beforeAll(async () => {
  engines = await slowEngines();
});

let running: ServiceProcess | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** The service as a child process, resolved as soon as it listens (its models still loading). */
async function listening(env: Record<string, string> = {}) {
  running = await spawnListeningService({
    ENGINES_DIR: engines,
    INTRA_OP_THREADS: "1",
    CPU_MAX_BATCH_SIZE: "1024",
    MAX_TEXT_CHARS: "2000000",
    ...env,
  });
  return running;
}

/** The request line of the answer with this status on this path, once it is written. */
async function requestLine(lines: LogLine[], path: string, status: number): Promise<LogLine> {
  const find = () => lines.find((l) => l.message === "request" && l.path === path && l.status === status);
  await waitFor(() => find() !== undefined, `the ${status} line of ${path}`);
  return find()!;
}

const longTexts = (n: number) =>
  JSON.stringify(Array.from({ length: n }, (_, i) => `${i} ${"many words in a long text ".repeat(120)}`));
const pending = async (url: string) => (await (await fetch(`${url}/health/ready`)).json()).pendingTexts as number;

describe("the real process while its models load", () => {
  test("/process is answered 503 not_ready with Retry-After: 5 (a warn line); readiness 503 loading (an info line); then 200", async () => {
    const { url, lines } = await listening();
    const loading = await postProcess(url, JSON.stringify("early"));
    const readiness = await fetch(`${url}/health/ready`);
    // Both answered before the models were ready: what the start looks like to a client.
    expect(lines.some((l) => l.message === "ready")).toBe(false);
    expect([loading.status, loading.headers.get("retry-after"), (await loading.json()).error.code]).toEqual([
      503,
      "5",
      "not_ready",
    ]);
    expect([readiness.status, (await readiness.json()).status]).toEqual([503, "loading"]);
    expect((await requestLine(lines, "/process", 503)).level).toBe("warn");
    expect((await requestLine(lines, "/health/ready", 503)).level).toBe("info");

    await waitFor(() => lines.some((l) => l.message === "ready"), "the models to load", 30_000);
    expect((await postProcess(url, JSON.stringify("later"))).status).toBe(200);
    expect((await requestLine(lines, "/process", 200)).level).toBe("info");
  });
});

describe("request lines under overload", () => {
  test("a 504 deadline_exceeded is an error line; a 503 overloaded (shed) a warn line", async () => {
    const { url, lines } = await listening({
      MAX_TEXTS_PER_REQUEST: "8",
      MAX_QUEUED_TEXTS: "9",
      // One batch holds eight long rows (512 tokens each).
      CPU_MAX_BATCH_TOKENS: "16384",
      MAX_BATCH_TOKENS: "16384",
    });
    await waitFor(() => lines.some((l) => l.message === "ready"), "the models to load", 30_000);
    // Eight long texts, one batch of seconds on this model. The process's first batch: until it is
    // answered the speed is unknown and nothing is refused by estimate, only by count.
    const first = postProcess(url, longTexts(8));
    const model = async () => (await (await fetch(`${url}/health/ready`)).json()).models[0];
    await waitFor(async () => {
      const m = await model();
      return m.running === 1 && m.queued === 0 && (await pending(url)) === 8;
    }, "eight long rows running as one batch");
    const shed = await postProcess(url, JSON.stringify(["two", "more"])); // 8 + 2 > MAX_QUEUED_TEXTS
    expect([shed.status, (await shed.json()).error.code]).toEqual([503, "overloaded"]);
    const late = await postProcess(url, JSON.stringify("short"), {
      "content-type": "application/json",
      "x-request-timeout-ms": "150",
    });
    expect([late.status, (await late.json()).error.code]).toEqual([504, "deadline_exceeded"]);
    expect((await first).status).toBe(200);

    expect((await requestLine(lines, "/process", 504)).level).toBe("error");
    expect((await requestLine(lines, "/process", 503)).level).toBe("warn");
    expect((await requestLine(lines, "/process", 200)).level).toBe("info");
  });
});

describe("a client that leaves while its text is tokenized", () => {
  test("nothing of it is queued or run; a 499 client_closed line is logged and client_closed_total counts it", async () => {
    const { url, lines } = await listening();
    await waitFor(() => lines.some((l) => l.message === "ready"), "the models to load", 30_000);
    const metric = async (name: string) =>
      sample(await scrape(url), name, name.startsWith("classifier_batch") ? { model: "slow" } : {});
    const batchesBefore = await metric("classifier_batch_size_count");
    // About 1 MB without a space: a second or more of RoBERTa's tokenizer, tokenized whole.
    const client = new AbortController();
    const gone = fetch(`${url}/process`, {
      method: "POST",
      body: JSON.stringify("a".repeat(1_000_000)),
      headers: { "content-type": "application/json" },
      signal: client.signal,
    }).catch((e) => e.name);
    await waitFor(async () => (await pending(url)) === 1, "the text accepted and tokenizing");
    client.abort();
    expect(await gone).toBe("AbortError");
    const line = await requestLine(lines, "/process", 499);
    expect(line.level).toBe("info");
    await waitFor(async () => (await pending(url)) === 0, "the text to leave the service");
    // Dropped when its client left (tokenizing, or waiting for a tokenizer process): never queued, so never cancelled or run.
    expect(await metric("classifier_client_closed_total")).toBe(1);
    expect(await metric("classifier_cancelled_rows_total")).toBe(0);
    expect(await metric("classifier_batch_size_count")).toBe(batchesBefore);
  });
});
