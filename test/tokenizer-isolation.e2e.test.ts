/**
 * Tokenization is bounded, isolated work (issue 22, items 1 and 2): a tokenizer that dies on a text
 * costs that request and a restart of one tokenizer process, never the service; uploads abandoned
 * while they wait for a tokenizer are dropped unencoded, so short requests are answered soon after a
 * flood and memory comes back.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ABORT_MARKER } from "../app/tokenize/serve-tokenizers.ts";
import { TOKENIZER_ENTRY } from "../app/tokenize/tokenizer-process-handle.ts";
import { spawnService, type ServiceProcess } from "../testkit/child.ts";
import { tinyEngines } from "../testkit/fixtures.ts";
import { treeRss } from "../testkit/proc.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { postProcess, startTestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(180_000);

let engines: string;
beforeAll(async () => {
  engines = await tinyEngines("xlmr", "tokenizer-isolation");
});

describe("a tokenizer that dies on a text", () => {
  test("costs that request a 500 tokenization_failed and one tokenizer process's restart; the service answers the next request, /metrics counts the crash", async () => {
    // The service's own tokenizer process, started with fault hooks: ABORT_MARKER makes it abort as a panicking tokenizer does.
    const server = await startTestServer(
      engines,
      { TOKENIZER_PROCESSES: "1" },
      {
        tokenizerEntry: { ...TOKENIZER_ENTRY, faultHooks: true },
        restartPolicy: { initialMs: 10, maxMs: 100, stableMs: 60_000 },
      },
    );
    try {
      const killed = await postProcess(server.url, JSON.stringify(`text ${ABORT_MARKER}`));
      expect(killed.status).toBe(500);
      const body = await killed.json();
      expect(body.error.code).toBe("tokenization_failed");
      expect(body.error.message).toContain("SIGABRT");
      // Alive, and answering again once the process is started again.
      const next = await postProcess(server.url, JSON.stringify("an ordinary text"));
      expect(next.status).toBe(200);
      expect(Object.keys(await next.json())).toEqual(["tiny"]);
      const metrics = await scrape(server.url);
      expect(sample(metrics, "classifier_tokenizer_crashes_total")).toBe(1);
      expect(sample(metrics, "classifier_tokenizer_processes")).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

describe("a text longer than MAX_TEXT_CHARS", () => {
  test("is refused 413 text_too_long naming the limit, on /process and /tokenize, before any tokenizer sees it; one at the limit is answered", async () => {
    const server = await startTestServer(engines, { MAX_TEXT_CHARS: "1000" });
    try {
      const refused = await postProcess(server.url, JSON.stringify(["fine", "x".repeat(1001)]));
      expect(refused.status).toBe(413);
      expect((await refused.json()).error).toEqual({
        code: "text_too_long",
        message: "text 1 has 1001 characters; the limit is 1000 (MAX_TEXT_CHARS)",
      });
      const tokenize = await fetch(`${server.url}/tokenize`, {
        method: "POST",
        body: JSON.stringify("y".repeat(1001)),
      });
      expect([tokenize.status, (await tokenize.json()).error.code]).toEqual([413, "text_too_long"]);
      expect((await postProcess(server.url, JSON.stringify("x".repeat(1000)))).status).toBe(200);
      // Refused before tokenization: the only job the tokenizer processes ran is the one answered.
      expect(
        sample(await scrape(server.url), "classifier_request_phase_duration_seconds_count", { phase: "tokenization" }),
      ).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

/** The service's memory with its tokenizer processes' (its process tree, read from /proc). */
const totalRss = (s: ServiceProcess) => treeRss(s.pid);

/** A client that sends `body` and leaves after `leaveAfterMs`, answered or not. */
async function abandon(url: string, body: string, leaveAfterMs: number) {
  const signal = AbortSignal.timeout(leaveAfterMs);
  await postProcess(url, body, { "content-type": "application/json" }, signal).then(
    (r) => r.arrayBuffer(),
    () => null,
  );
  await Bun.sleep(Math.max(0, leaveAfterMs));
}

describe("an abandoned-upload flood", () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    // Texts of 1 MiB are let through, so the flood is really tokenized.
    service = await spawnService({ ENGINES_DIR: engines, MAX_TEXT_CHARS: "2000000", LOG_SAMPLE: "0" });
  });
  afterAll(() => service?.stop());

  test("30 clients sending 1 MiB texts and leaving after 300 ms, for a second: short requests are answered within seconds after it, the dropped uploads are counted, memory returns within 1.5× of its baseline", async () => {
    for (let i = 0; i < 5; i++) expect((await postProcess(service.url, JSON.stringify(`warm ${i}`))).status).toBe(200);
    const baseline = totalRss(service);
    const huge = JSON.stringify(`${"tokenize these many words ".repeat(40_000)}`);
    const until = performance.now() + 1000;
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        while (performance.now() < until) await abandon(service.url, huge, 300);
      }),
    );
    const floodEnded = performance.now();
    const short = await postProcess(service.url, JSON.stringify("a short text after the flood"));
    const answeredAfterMs = performance.now() - floodEnded;
    expect(short.status).toBe(200);
    // At most TOKENIZER_PROCESSES (2) texts of ~1 s each were being encoded when the flood ended.
    expect(answeredAfterMs).toBeLessThan(5000);
    const metrics = await scrape(service.url);
    expect(sample(metrics, "classifier_tokenize_dropped_total")).toBeGreaterThan(0);
    expect(sample(metrics, "classifier_client_closed_total")).toBeGreaterThan(0);
    let last = 0;
    await waitFor(
      async () => {
        last = totalRss(service);
        return last < baseline * 1.5;
      },
      "memory back within 1.5× of its baseline",
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}: baseline ${baseline >> 20} MiB, now ${last >> 20} MiB`);
    });
  });
});
