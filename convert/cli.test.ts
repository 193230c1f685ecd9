import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { readSettings, settingList } from "../lib/settings.ts";
import { describeReadmeSettingsTable } from "../testkit/settings-table.ts";
import { CONVERT_SETTINGS, type ConvertEnvironment, parseCli, resolveSources, USAGE } from "./cli.ts";
import { DEFAULT_MANIFEST, parseManifest } from "./manifest.ts";
import { hubSettings } from "./hub/settings.ts";

const CONVERT_SETTING_LIST = settingList(CONVERT_SETTINGS);
const CLI = join(import.meta.dir, "index.ts");

describe("convert's environment", () => {
  test("ENGINES_DIR is where it writes unless --out says otherwise; MAX_BATCH_SIZE is the TensorRT batch unless --trt-max-batch says otherwise", () => {
    const env = { ENGINES_DIR: "/srv/engines", MAX_BATCH_SIZE: "8" };
    const req = parseCli(["--trt"], env);
    if (req === "help") throw new Error("not help");
    expect([req.outDir, req.trt?.maxBatch]).toEqual(["/srv/engines", 8]);
    const flags = parseCli(["--trt", "--out", "out", "--trt-max-batch", "16"], env);
    if (flags === "help") throw new Error("not help");
    expect([flags.outDir, flags.trt?.maxBatch]).toEqual([resolve("out"), 16]);
  });

  test("unset, the defaults are the service's: ./engines, 32 rows, the built-in manifest, the Hub itself", () => {
    const req = parseCli(["--trt"], {});
    if (req === "help") throw new Error("not help");
    expect([req.outDir, req.trt?.maxBatch, req.manifest, req.hub.endpoint]).toEqual([
      resolve("engines"),
      32,
      null,
      "https://huggingface.co",
    ]);
  });

  test("a bad variable stops it before any work, naming the variable", () => {
    expect(() => parseCli([], { MAX_BATCH_SIZE: "0" })).toThrow(/^MAX_BATCH_SIZE: expected an integer from 1 to 1024/);
    expect(() => parseCli([], { HF_MAX_ATTEMPTS: "many" })).toThrow(/^HF_MAX_ATTEMPTS: /);
  });
});

describe("--allow-vocab-mismatch", () => {
  test("off unless given; given, every source carries the allowance; --help says what it is for", async () => {
    const off = parseCli(["--model", `m=${import.meta.dir}`], {});
    const on = parseCli(["--model", `m=${import.meta.dir}`, "--allow-vocab-mismatch"], {});
    if (off === "help" || on === "help") throw new Error("not help");
    expect([off.allowVocabMismatch, on.allowVocabMismatch]).toEqual([false, true]);
    const sources = await resolveSources(on, DEFAULT_MANIFEST, hubSettings(on.hub));
    expect(sources.map((s) => s.allowVocabMismatch)).toEqual([true]);
    expect(USAGE).toMatch(
      /--allow-vocab-mismatch\n +accept a tokenizer whose ids reach past the model's embedding rows/,
    );
  });
});

describe("the manifest's defaultFanOut", () => {
  const entry = (key: string, defaultFanOut?: unknown) => ({
    key,
    hubId: `org/${key}`,
    revision: "main",
    defaultFanOut,
  });

  test("a local source takes its manifest entry's defaultFanOut; a model the manifest does not name leaves it unset", async () => {
    const manifest = parseManifest("m.json", { models: [entry("nli", false), entry("sentiment")] });
    const req = parseCli(["--model", `nli=${import.meta.dir}`, "--model", `other=${import.meta.dir}`], {});
    if (req === "help") throw new Error("not help");
    const sources = await resolveSources(req, manifest, hubSettings(req.hub));
    expect(sources.map((s) => [s.key, s.defaultFanOut])).toEqual([
      ["nli", false],
      ["other", undefined],
    ]);
  });

  test("must be a boolean, and one model at least must answer a bare /process", () => {
    expect(() => parseManifest("m.json", { models: [entry("a"), entry("b", "no")] })).toThrow(
      /m\.json: models\[1\]\.defaultFanOut must be true/,
    );
    expect(() => parseManifest("m.json", { models: [entry("a", false), entry("b", false)] })).toThrow(
      /m\.json: every model has defaultFanOut false/,
    );
  });
});

describe("bun run convert --help", () => {
  test("lists every variable convert reads, with what it accepts and its default, and exits 0 even when one is invalid", async () => {
    const proc = Bun.spawn([process.execPath, CLI, "--help"], {
      env: { ...process.env, HF_MAX_ATTEMPTS: "many" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
    expect(code).toBe(0);
    const listed = out.split("\n").flatMap((l) => /^ {2}([A-Z][A-Z_]+) /.exec(l)?.[1] ?? []);
    expect(listed).toEqual(CONVERT_SETTING_LIST.map((s) => s.name));
    expect(out).toMatch(/^ {2}HF_CONNECT_TIMEOUT_MS +integer 1–600000, default 10000$/m);
    expect(out).toMatch(/^ {2}HF_TOKEN +text, default none$/m);
  });
});

describeReadmeSettingsTable(
  "Converting models: `bun run convert`",
  CONVERT_SETTING_LIST,
  (env) => readSettings<ConvertEnvironment>(CONVERT_SETTINGS, env),
  "bun convert/cli.ts",
);
