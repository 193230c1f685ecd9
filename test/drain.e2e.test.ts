import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnService } from "../testkit/child.ts";
import { slowEngines } from "../testkit/fixtures.ts";
import { postProcess } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

let engines: string;
beforeAll(async () => {
  engines = await slowEngines();
});

const startService = (env: Record<string, string>) =>
  spawnService({
    ENGINES_DIR: engines,
    INTRA_OP_THREADS: "1",
    CPU_MAX_BATCH_SIZE: "1024",
    CPU_MAX_BATCH_TOKENS: "16384",
    MAX_BATCH_TOKENS: "16384",
    ...env,
  });

const longTexts = (n: number, tag: string) =>
  JSON.stringify(Array.from({ length: n }, (_, i) => `${tag} ${i} ${"many words in a long text ".repeat(120)}`));
const pending = async (url: string) => (await (await fetch(`${url}/health/ready`)).json()).pendingTexts as number;

describe("graceful drain", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    test(`${signal} with requests in flight: readiness turns 503, new requests get 503 shutting_down, every accepted request is answered with Connection: close, exit 0`, async () => {
      const { proc, url, lines } = await startService({ MAX_TEXTS_PER_REQUEST: "4", MAX_BATCH_SIZE: "4" });
      // Startup lines say what runs: settings, then each model with its provider and family.
      expect(lines.find((l) => l.message === "listening")).toMatchObject({
        level: "info",
        maxQueuedTexts: 1024,
        providers: ["tensorrt", "cuda", "cpu"],
      });
      expect(lines.find((l) => l.message === "ready")).toMatchObject({ models: [{ key: "slow", provider: "cpu" }] });
      const inFlight = [0, 1, 2].map((i) => postProcess(url, longTexts(4, `req${i}`)));
      await waitFor(async () => (await pending(url)) === 12, "three requests of four long texts in flight");
      proc.kill(signal);
      await waitFor(() => lines.some((l) => l.message === "draining"), "the drain to start");
      expect(lines.find((l) => l.message === "draining")).toMatchObject({ signal });

      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).status).toBe("draining");
      const refused = await postProcess(url, JSON.stringify("too late"));
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(refused.headers.get("connection")).toBe("close");
      expect((await refused.json()).error.code).toBe("shutting_down");

      // Accepted before the signal, answered during the drain: each asks its keep-alive connection to close.
      const answers = await Promise.all(inFlight);
      expect(answers.map((r) => [r.status, r.headers.get("connection")])).toEqual([
        [200, "close"],
        [200, "close"],
        [200, "close"],
      ]);
      for (const r of answers) expect(await r.json()).toHaveLength(4);
      expect(await proc.exited).toBe(0);
      expect(lines.at(-1)).toMatchObject({ message: "stopped", pendingTexts: 0 });
      // The drain's 503s are announced states: shutting_down a warn line, readiness an info line.
      const line = (path: string, status: number) =>
        lines.find((l) => l.message === "request" && l.path === path && l.status === status)?.level;
      expect([line("/process", 503), line("/health/ready", 503), line("/process", 200)]).toEqual([
        "warn",
        "info",
        "info",
      ]);
    });

  test("past DRAIN_TIMEOUT_MS the requests still running are answered 503, not dropped, and the exit code says so", async () => {
    const { proc, url, lines } = await startService({
      MAX_TEXTS_PER_REQUEST: "16",
      MAX_BATCH_SIZE: "16",
      DRAIN_TIMEOUT_MS: "100",
    });
    const inFlight = postProcess(url, longTexts(16, "long"));
    await waitFor(async () => (await pending(url)) === 16, "a long batch in flight");
    proc.kill("SIGTERM");
    const answer = await inFlight;
    expect([answer.status, answer.headers.get("connection")]).toEqual([503, "close"]);
    expect((await answer.json()).error.code).toBe("inference_unavailable");
    expect(await proc.exited).toBe(1);
    expect(lines.at(-1)).toMatchObject({ message: "stopped before every request was answered" });
  });

  test("past DRAIN_TIMEOUT_MS with 30 × 1 MiB texts tokenizing or waiting for a tokenizer process, every client is answered 503 or closed and the process exits within the timeout and a margin", async () => {
    const { proc, url, lines } = await startService({
      DRAIN_TIMEOUT_MS: "1000",
      MAX_BUFFERED_BODY_BYTES: "67108864",
      MAX_TEXT_CHARS: "2000000",
    });
    // ~1 MiB of JSON each, under MAX_BODY_BYTES: each takes the tokenizer seconds, 30 of them tens of seconds.
    const huge = (i: number) => JSON.stringify(`${i} ${"tokenize these many words ".repeat(40_000)}`);
    const clients = Array.from({ length: 30 }, (_, i) =>
      postProcess(url, huge(i)).then(
        async (r) => ({
          status: r.status,
          connection: r.headers.get("connection"),
          code: (await r.json()).error?.code,
        }),
        () => ({ status: 0, connection: "closed", code: undefined }),
      ),
    );
    await waitFor(async () => (await pending(url)) === 30, "30 huge texts tokenizing", 30_000);
    const signalled = performance.now();
    proc.kill("SIGTERM");
    const exitCode = await proc.exited;
    const exitMs = performance.now() - signalled;
    // A requirement, not a speed claim: Kubernetes kills at its grace period, so the exit may not wait on the tokenizer.
    expect(exitMs).toBeLessThan(1000 + 3000);
    expect(exitCode).toBe(1);
    // Every client got an answer or a closed connection by the exit: none hangs.
    const answers = await Promise.race([Promise.all(clients), Bun.sleep(1000).then(() => "a client hangs")]);
    expect(answers).not.toBe("a client hangs");
    for (const a of answers as Awaited<(typeof clients)[number]>[])
      expect(a).toEqual(
        a.status === 0
          ? { status: 0, connection: "closed", code: undefined }
          : { status: 503, connection: "close", code: "inference_unavailable" },
      );
    expect((answers as { status: number }[]).filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatchObject({ message: "stopped before every request was answered", pendingTexts: 30 });
  });

  test("an idle keep-alive connection is closed by the server when the drain starts, not left open until the exit", async () => {
    const { proc, url, lines } = await startService({ MAX_TEXTS_PER_REQUEST: "16", MAX_BATCH_SIZE: "16" });
    const { hostname, port } = new URL(url);
    let received = "";
    let closedAt = 0;
    const closed = new Promise<void>((resolve) =>
      Bun.connect({
        hostname,
        port: Number(port),
        socket: {
          open: (s) => void s.write("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"),
          data: (_s, d) => {
            received += d.toString();
          },
          close: () => {
            closedAt = performance.now();
            resolve();
          },
        },
      }),
    );
    await waitFor(() => received.includes("\r\n\r\n"), "the keep-alive answer");
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received.toLowerCase()).not.toContain("connection: close");
    // Work in flight keeps the drain open for seconds: the idle connection must not wait for it.
    let answeredAt = 0;
    const inFlight = postProcess(url, longTexts(16, "busy")).then((r) => {
      answeredAt = performance.now();
      return r;
    });
    await waitFor(async () => (await pending(url)) === 16, "a long batch in flight");
    const signalled = performance.now();
    proc.kill("SIGTERM");
    await closed;
    expect(closedAt - signalled).toBeLessThan(1000);
    expect((await inFlight).status).toBe(200);
    expect(answeredAt).toBeGreaterThan(closedAt);
    expect(await proc.exited).toBe(0);
    expect(lines.some((l) => l.message === "draining")).toBe(true);
  });

  test("a request still uploading at SIGTERM gets 503 shutting_down at once (not 408 later); answers during the drain ask to close", async () => {
    const { proc, url, lines } = await startService({});
    // Slow work in flight keeps the drain open while the upload is interrupted.
    const inFlight = postProcess(url, longTexts(4, "busy"));
    await waitFor(async () => (await pending(url)) === 4, "four long texts in flight");
    const { hostname, port } = new URL(url);
    let answer = "";
    const answered = new Promise<void>((resolve) =>
      Bun.connect({
        hostname,
        port: Number(port),
        socket: {
          // Declares 1000 bytes and sends 10: the rest never comes.
          open: (s) =>
            void s.write(
              'POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"0123456789',
            ),
          data: (_s, d) => {
            answer += d.toString();
            if (answer.includes("}")) resolve();
          },
          close: () => resolve(),
        },
      }),
    );
    await Bun.sleep(100); // the upload is being read
    const sent = performance.now();
    proc.kill("SIGTERM");
    await answered;
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toContain('"code":"shutting_down"');
    expect(performance.now() - sent).toBeLessThan(5000); // BODY_TIMEOUT_MS is 10 s: not the timeout
    await waitFor(() => lines.some((l) => l.message === "draining"), "the drain to start");
    const during = await fetch(`${url}/health/live`);
    expect(during.headers.get("connection")).toBe("close");
    expect((await inFlight).status).toBe(200);
    expect(await proc.exited).toBe(0);
  });
});
