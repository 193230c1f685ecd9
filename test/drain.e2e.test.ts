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
