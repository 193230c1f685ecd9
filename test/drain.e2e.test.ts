import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { slowEngines } from "./helpers/fixtures.ts";
import { postProcess } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";

// Real servers over converted checkpoints: slower than bun test's 5 s default on a 2-core machine.
setDefaultTimeout(60_000);

let engines: string;
beforeAll(async () => {
  engines = await slowEngines();
});

/** `bun run start`'s entry as a child process; resolves once it logs "ready", with its port and its log lines. */
async function startService(env: Record<string, string>) {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "..", "app", "index.ts")], {
    env: { ...process.env, ENGINES_DIR: engines, AUTO_CONVERT: "false", PORT: "0", HOST: "127.0.0.1", INTRA_OP_THREADS: "1", ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  const lines: Record<string, unknown>[] = [];
  (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk);
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    }
  })();
  await waitFor(() => lines.some((l) => l.message === "ready") || proc.exitCode !== null, "the service to be ready", 30_000);
  const port = lines.find((l) => l.message === "listening")!.port as number;
  return { proc, url: `http://127.0.0.1:${port}`, lines };
}

const longTexts = (n: number, tag: string) => JSON.stringify(Array.from({ length: n }, (_, i) => `${tag} ${i} ` + "many words in a long text ".repeat(120)));
const pending = async (url: string) => (await (await fetch(`${url}/health/ready`)).json()).pendingTexts as number;

describe("graceful drain", () => {
  test("SIGTERM with requests in flight: readiness turns 503, new requests get 503 shutting_down, every accepted request is answered, exit 0", async () => {
    const { proc, url, lines } = await startService({ MAX_TEXTS_PER_REQUEST: "4", MAX_BATCH_SIZE: "4" });
    const inFlight = [0, 1, 2].map((i) => postProcess(url, longTexts(4, `req${i}`)));
    await waitFor(async () => (await pending(url)) === 12, "three requests of four long texts in flight");
    proc.kill("SIGTERM");
    await waitFor(() => lines.some((l) => l.message === "draining"), "the drain to start");

    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).status).toBe("draining");
    const refused = await postProcess(url, JSON.stringify("too late"));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await refused.json()).error.code).toBe("shutting_down");

    const answers = await Promise.all(inFlight);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const r of answers) expect(await r.json()).toHaveLength(4);
    expect(await proc.exited).toBe(0);
    expect(lines.at(-1)).toMatchObject({ message: "stopped", pendingTexts: 0 });
  });

  test("past DRAIN_TIMEOUT_MS the requests still running are answered 503, not dropped, and the exit code says so", async () => {
    const { proc, url, lines } = await startService({ MAX_TEXTS_PER_REQUEST: "16", MAX_BATCH_SIZE: "16", DRAIN_TIMEOUT_MS: "100" });
    const inFlight = postProcess(url, longTexts(16, "long"));
    await waitFor(async () => (await pending(url)) === 16, "a long batch in flight");
    proc.kill("SIGTERM");
    const answer = await inFlight;
    expect(answer.status).toBe(503);
    expect((await answer.json()).error.code).toBe("inference_unavailable");
    expect(await proc.exited).toBe(1);
    expect(lines.at(-1)).toMatchObject({ message: "stopped before every request was answered" });
  });
});
