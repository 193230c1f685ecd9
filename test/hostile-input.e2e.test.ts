import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect } from "node:net";
import { loadConfig } from "../app/config.ts";
import { convertModels } from "../convert/pipeline.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { hostileCases, type HostileCase } from "../testkit/hostile.ts";
import { rawRequest } from "../testkit/raw-http.ts";
import { answerDifference, ReferenceClassifier } from "../testkit/reference.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

const engines = tempDir("hostile-engines");
let server: TestServer;
let reference: ReferenceClassifier;
// The production limits (1 MiB, 64 texts), which the server below runs with.
const limits = loadConfig({});
const KEYS = ["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii", "jy46604790"];

beforeAll(async () => {
  await convertModels(tinyManifestSources(), { outDir: engines });
  reference = await ReferenceClassifier.load(engines);
  // Production limits (1 MiB, 64 texts); short slow-client timeouts so those tests finish quickly.
  // Texts up to MAX_BODY_BYTES let through: the 1 MiB text below is tokenized, not refused by length.
  server = await startTestServer(engines, { BODY_TIMEOUT_MS: "500", IDLE_TIMEOUT_S: "5", MAX_TEXT_CHARS: "2000000" });
});
afterAll(async () => {
  await server?.stop();
  await reference?.release();
});

async function send(c: HostileCase) {
  const res = await fetch(server.url + c.path, {
    method: c.method,
    headers: c.headers,
    body: c.body as BodyInit | undefined,
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: await res.json().catch(() => "not json"),
  };
}

/** The texts of a request the API accepts: its body as JSON (a UTF-8 byte order mark is skipped, as TextDecoder does). */
function textsOf(c: HostileCase): string[] {
  const body = typeof c.body === "string" ? new TextEncoder().encode(c.body) : c.body!;
  const value = JSON.parse(new TextDecoder().decode(body));
  return Array.isArray(value) ? value : [value];
}

/** Where the service's answer to a text differs from the same text's answer computed directly: [] when none. */
async function differences(answer: unknown, text: string): Promise<string[]> {
  const got = answer as Record<string, { score: number; label: string }>;
  if (JSON.stringify(Object.keys(got)) !== JSON.stringify(KEYS)) return [`keys ${Object.keys(got).join(",")}`];
  const want = await reference.answers(text);
  return KEYS.map((key) => {
    const d = answerDifference(got[key], want[key]);
    return d && `${key}: ${d} (text ${JSON.stringify(text.slice(0, 40))})`;
  }).filter((d) => d !== "");
}

describe("hostile input", () => {
  test("a battery of 200+ generated hostile requests: each gets its promised status and code, none a 5xx, and the server still answers correctly", async () => {
    const reference = await (await postProcess(server.url, JSON.stringify("a reference text 👍"))).json();
    const cases = hostileCases(2026, limits);
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const results: { c: HostileCase; status: number; body: unknown }[] = [];
    // Eight at a time, so the bad requests also meet each other and the batcher.
    for (let i = 0; i < cases.length; i += 8) {
      const chunk = cases.slice(i, i + 8);
      const answers = await Promise.all(chunk.map(send));
      answers.forEach((a, k) => {
        results.push({ c: chunk[k], ...a });
      });
    }
    const wrong = results.filter(
      (r) =>
        r.status !== r.c.expect.status ||
        (r.c.expect.code && (r.body as { error?: { code: string } }).error?.code !== r.c.expect.code),
    );
    expect(
      wrong.map(
        (r) =>
          `${r.c.kind}: ${r.status} ${JSON.stringify(r.body).slice(0, 120)} (expected ${r.c.expect.status} ${r.c.expect.code ?? ""})`,
      ),
    ).toEqual([]);
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
    // Every 200 is the answer the models give that text computed directly; every other status an error envelope.
    const differing: string[] = [];
    let answered = 0;
    for (const r of results) {
      if (r.status !== 200) {
        expect(Object.keys(r.body as object)).toEqual(["error"]);
        continue;
      }
      const texts = textsOf(r.c);
      const answers = Array.isArray(r.body) ? r.body : [r.body];
      expect(answers).toHaveLength(texts.length);
      for (const [i, text] of texts.entries()) differing.push(...(await differences(answers[i], text)));
      answered += texts.length;
    }
    expect(differing).toEqual([]);
    expect(answered).toBeGreaterThanOrEqual(60);
    const kinds = new Set(cases.map((c) => c.kind));
    expect(kinds.size).toBeGreaterThanOrEqual(15);

    // Still healthy, nothing restarted, same answer as before.
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    expect(server.service.models.flatMap((m) => m.workers).map((w) => w.restarts)).toEqual([0, 0, 0, 0, 0]);
    expect(await (await postProcess(server.url, JSON.stringify("a reference text 👍"))).json()).toEqual(reference);
    expect(server.service.pendingTexts).toBe(0);
  });

  test("a 1 MiB text without spaces is answered without the HTTP thread stalling on its tokenization", async () => {
    const huge = "漢".repeat(340_000); // ~1 MiB as UTF-8, no space to cut at: tokenized whole
    const events: string[] = [];
    const processing = postProcess(server.url, JSON.stringify(huge)).then((r) => {
      events.push("process");
      return r;
    });
    await waitFor(() => server.service.pendingTexts === 1, "the text to be accepted");
    // Liveness is answered while the long text is tokenized (in a tokenizer process) and classified.
    const live = await fetch(`${server.url}/health/live`);
    events.push(`live ${live.status}`);
    const res = await processing;
    expect(events).toEqual(["live 200", "process"]);
    expect(res.status).toBe(200);
    expect(await differences(await res.json(), huge)).toEqual([]);
  });
});

/** A raw TCP client: what a slow or broken HTTP client sends, byte by byte. */
function rawClient(port: number) {
  const socket = connect(port, "127.0.0.1");
  let received = "";
  socket.on("data", (d) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  return { socket, closed, received: () => received };
}

describe("slow clients", () => {
  test("a client that stops sending its body gets 408 request_timeout after BODY_TIMEOUT_MS", async () => {
    const c = rawClient(Number(new URL(server.url).port));
    c.socket.write(
      'POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"only the start',
    );
    await waitFor(() => c.received().includes("}"), "the answer");
    expect(c.received()).toMatch(/^HTTP\/1.1 408/);
    expect(c.received()).toContain('"code":"request_timeout"');
    c.socket.destroy();
  });

  test("a client that trickles its body a byte at a time is cut off by the same total deadline", async () => {
    const c = rawClient(Number(new URL(server.url).port));
    c.socket.write(
      'POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"',
    );
    const trickle = setInterval(() => c.socket.writable && c.socket.write("a"), 50); // never idle, never done
    await waitFor(() => c.received().includes("}"), "the answer");
    clearInterval(trickle);
    expect(c.received()).toMatch(/^HTTP\/1.1 408/);
    c.socket.destroy();
  });

  // Bun's idle clock ticks in seconds: such a connection is closed within a few seconds of IDLE_TIMEOUT_S.
  test("a client that never finishes its headers is disconnected (IDLE_TIMEOUT_S) without an answer", async () => {
    const c = rawClient(Number(new URL(server.url).port));
    c.socket.write("POST /process HTTP/1.1\r\nHost: x\r\n");
    await c.closed;
    expect(c.received()).toBe("");
  });
});

describe("requests Bun answers itself, before the service sees them", () => {
  /** Requests counted in the metrics, the scrapes themselves left out. */
  const counted = async () =>
    (await (await fetch(`${server.url}/metrics`)).text())
      .split("\n")
      .filter((l) => l.startsWith("classifier_http_requests_total{") && !l.includes('route="/metrics"'))
      .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);

  test("a bare 400 for a request line or header it cannot parse, 431 for headers over its limit, 505 for another version or a bare LF: no JSON body, not counted", async () => {
    const before = await counted();
    const cases: [string, string, number][] = [
      ["a request line that is not HTTP", "GARBAGE\r\n\r\n", 400],
      ["a header line without a colon", "POST /process HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400],
      ["headers over Bun's limit", `POST /process HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`, 431],
      ["HTTP/2.0 in the request line", "POST /process HTTP/2.0\r\nHost: x\r\n\r\n", 505],
      ["a request line ending in a bare LF", "POST /process HTTP/1.1\nHost: x\r\n\r\n", 505],
    ];
    const got = [];
    for (const [what, request] of cases) {
      const answer = await rawRequest(server.url, request, 10_000);
      got.push([what, answer.status, answer.body, answer.head.headers["content-type"] ?? "no content-type"]);
    }
    expect(got).toEqual(cases.map(([what, , status]) => [what, status, "", "no content-type"]));
    expect(await counted()).toBe(before);
    expect((await postProcess(server.url, JSON.stringify("still answering"))).status).toBe(200);
  });
});
