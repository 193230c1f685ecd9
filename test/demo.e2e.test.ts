/**
 * `bun run demo` as a newcomer runs it: no Hub, no ../shared (SHARED_DIR points nowhere), five tiny
 * random models converted by the real converter, then the real service on them, announced with a
 * curl to try and a banner saying the answers are meaningless.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_MANIFEST } from "../convert/manifest.ts";
import { tempDir } from "../testkit/fixtures.ts";
import { waitFor } from "../testkit/wait.ts";

setDefaultTimeout(180_000);

function freePort(): number {
  const probe = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

const port = freePort();
const demo = Bun.spawn(["bun", "run", "demo"], {
  cwd: join(import.meta.dir, ".."),
  env: {
    ...process.env,
    DEMO_DIR: tempDir("demo"),
    PORT: String(port),
    SHARED_DIR: join(tempDir("no-shared"), "absent"),
    HF_ENDPOINT: "http://127.0.0.1:9",
  },
  stdout: "ignore",
  stderr: "pipe",
});
let said = "";
const stderrRead = (async () => {
  for await (const chunk of demo.stderr) said += new TextDecoder().decode(chunk);
})();
afterAll(() => demo.kill("SIGTERM"));

const url = `http://127.0.0.1:${port}`;
const post = (path: string, text: string) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(text),
  });

describe("bun run demo", () => {
  test("converts the five, starts the service, and says the answers are meaningless, with a curl to try", async () => {
    await waitFor(() => said.includes("Stop: Ctrl-C") || demo.exitCode !== null, "the demo's banner", 170_000);
    expect(demo.exitCode).toBeNull();
    expect(said).toContain("MEANINGLESS");
    expect(said).toContain(`curl -s localhost:${port}/process`);
    for (const m of DEFAULT_MANIFEST.models) expect(said).toContain(`demo: ${m.key}: converted`);
  });

  test("the service it started answers /process for the five keys, with their real label sets", async () => {
    const res = await post("/process", "This is how true happiness looks like 👍😜");
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Record<string, { label: string; score: number }>;
    expect(Object.keys(answer)).toEqual(DEFAULT_MANIFEST.models.map((m) => m.key));
    // The manifest's label fixes applied to the published labels: upper-cased, "Mangolian" renamed.
    expect(["NEGATIVE", "NEUTRAL", "POSITIVE"]).toContain(answer.cardiffnlp.label);
    expect(["HAM", "SPAM"]).toContain(answer.svalabs.label);
    expect(["LABEL_0", "LABEL_1"]).toContain(answer.EIStakovskii.label);
    expect(["LABEL_0", "LABEL_1"]).toContain(answer.jy46604790.label);
    const models = (await (await fetch(`${url}/models`)).json()) as { key: string; labels: string[] }[];
    const ivanlau = models.find((m) => m.key === "ivanlau")!.labels;
    expect(ivanlau).toHaveLength(45);
    expect(ivanlau).toContain("Mongolian");
    expect(ivanlau).toContain(answer.ivanlau.label);
    for (const { score } of Object.values(answer)) expect(score).toBeGreaterThan(0);
  });

  test("its tokenizers are XLM-R's and RoBERTa's in shape: <s> … </s>, one family each", async () => {
    const families = (await (await post("/tokenize", "Hello world")).json()) as { models: string[]; ids: number[] }[];
    expect(families.map((f) => f.models)).toEqual([
      ["cardiffnlp", "ivanlau", "svalabs", "EIStakovskii"],
      ["jy46604790"],
    ]);
    for (const f of families) {
      expect(f.ids[0]).toBe(0);
      expect(f.ids.at(-1)).toBe(2);
      expect(f.ids.length).toBeGreaterThan(2);
    }
  });

  test("SIGTERM stops the demo and the service it started", async () => {
    demo.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
    await stderrRead;
    expect(await fetch(`${url}/health/live`).catch(() => null)).toBeNull();
  });
});
