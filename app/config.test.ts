import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { SettingsOf } from "../lib/settings.ts";
import { describeReadmeSettingsTable } from "../testkit/settings-table.ts";
import { type Config, ConfigError, loadConfig, SETTING_LIST, SETTINGS } from "./config.ts";

describe("loadConfig", () => {
  test("defaults: port 8000, ./engines, the best provider available (TensorRT, CUDA, then CPU), one worker per model, threads left to the service", () => {
    const c = loadConfig({});
    expect(c.port).toBe(8000);
    expect(c.enginesDir).toBe("./engines");
    expect(c.executionProviders).toEqual(["tensorrt", "cuda", "cpu"]);
    expect(c.workersPerModel).toBe(1);
    expect(c.intraOpThreads).toBeNull();
    expect(c.batch).toEqual({ maxBatchSize: 32, maxBatchTokens: 1024, maxQueueDelayMs: 5 });
    expect(c.cpuBatch).toEqual({ maxBatchSize: 32, maxBatchTokens: 256 });
  });

  test("reads every knob from the environment", () => {
    const c = loadConfig({
      PORT: "9000",
      HOST: "127.0.0.1",
      ENGINES_DIR: "/e",
      MAX_BATCH_SIZE: "8",
      MAX_QUEUE_DELAY_MS: "0",
      EXECUTION_PROVIDERS: "tensorrt, cuda",
      INTRA_OP_THREADS: "3",
      AUTO_CONVERT: "false",
    });
    expect([
      c.port,
      c.host,
      c.enginesDir,
      c.batch.maxBatchSize,
      c.batch.maxQueueDelayMs,
      c.intraOpThreads,
      c.autoConvert,
    ]).toEqual([9000, "127.0.0.1", "/e", 8, 0, 3, false]);
    expect(c.executionProviders).toEqual(["tensorrt", "cuda"]);
  });

  test("INTRA_OP_THREADS: unset → null (the service divides the cores among its sessions); set → 1 to 256", () => {
    expect(loadConfig({}).intraOpThreads).toBeNull();
    expect(loadConfig({ INTRA_OP_THREADS: "" }).intraOpThreads).toBeNull();
    expect(loadConfig({ INTRA_OP_THREADS: "1" }).intraOpThreads).toBe(1);
    expect(loadConfig({ INTRA_OP_THREADS: "256" }).intraOpThreads).toBe(256);
  });

  test("logging: info, every request, no texts by default; each can be changed", () => {
    expect(loadConfig({}).logging).toEqual({ level: "info", sample: 1, texts: false });
    expect(loadConfig({ LOG_LEVEL: "debug", LOG_SAMPLE: "0.1", LOG_TEXTS: "true" }).logging).toEqual({
      level: "debug",
      sample: 0.1,
      texts: true,
    });
  });

  test("reliability knobs: bounded queue, deadlines, slow-client and drain timeouts", () => {
    expect(loadConfig({})).toMatchObject({
      maxQueuedTexts: 1024,
      requestTimeoutMs: 30_000,
      bodyTimeoutMs: 10_000,
      idleTimeoutS: 65,
      drainTimeoutMs: 25_000,
    });
    const c = loadConfig({
      MAX_QUEUED_TEXTS: "8",
      MAX_TEXTS_PER_REQUEST: "8",
      REQUEST_TIMEOUT_MS: "500",
      BODY_TIMEOUT_MS: "200",
      IDLE_TIMEOUT_S: "5",
      DRAIN_TIMEOUT_MS: "0",
    });
    expect([c.maxQueuedTexts, c.requestTimeoutMs, c.bodyTimeoutMs, c.idleTimeoutS, c.drainTimeoutMs]).toEqual([
      8, 500, 200, 5, 0,
    ]);
  });

  const bad: [Record<string, string>, string][] = [
    [{ PORT: "eighty" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ MAX_BATCH_SIZE: "0" }, "MAX_BATCH_SIZE"],
    [{ MAX_BODY_BYTES: "1.5" }, "MAX_BODY_BYTES"],
    [{ INTRA_OP_THREADS: "0" }, "INTRA_OP_THREADS"],
    [{ INTRA_OP_THREADS: "257" }, "INTRA_OP_THREADS"],
    [{ EXECUTION_PROVIDERS: " , " }, "EXECUTION_PROVIDERS"],
    [{ EXECUTION_PROVIDERS: "cpu,rocm" }, "EXECUTION_PROVIDERS"],
    [{ AUTO_CONVERT: "maybe" }, "AUTO_CONVERT"],
    [{ MAX_QUEUED_TEXTS: "10", MAX_TEXTS_PER_REQUEST: "64" }, "MAX_QUEUED_TEXTS"],
    [{ REQUEST_TIMEOUT_MS: "0" }, "REQUEST_TIMEOUT_MS"],
    [{ IDLE_TIMEOUT_S: "300" }, "IDLE_TIMEOUT_S"],
    [{ IDLE_TIMEOUT_S: "10", BODY_TIMEOUT_MS: "6001" }, "BODY_TIMEOUT_MS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ LOG_SAMPLE: "1.5" }, "LOG_SAMPLE"],
    [{ LOG_SAMPLE: "half" }, "LOG_SAMPLE"],
  ];
  for (const [env, variable] of bad)
    test(`an invalid ${variable} is refused, naming the variable`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(new RegExp(`^${variable}: `));
    });

  test("bun run start with an invalid variable stops before listening, naming it", async () => {
    const proc = Bun.spawn(["bun", join(import.meta.dir, "index.ts")], {
      env: { ...process.env, PORT: "not-a-port" },
      stderr: "pipe",
      stdout: "pipe",
    });
    expect(await proc.exited).toBe(2);
    // One error-level JSON line on stdout, as every start-up failure (app/startup-failure.ts).
    const lines = (await new Response(proc.stdout).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.level === "error")?.error).toContain(
      'PORT: expected an integer from 0 to 65535, got "not-a-port"',
    );
  });
});

describe("SETTINGS", () => {
  test("each variable is declared once", () => {
    const names = SETTING_LIST.map((s) => s.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(names).toContain("LOG_TEXTS"); // nested groups (logging, batch) are listed too
  });

  test("HOST must be an address: an IPv4, IPv6 or host name; anything else stops the start naming it", () => {
    for (const ok of ["0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1%eth0", "localhost", "api.example.internal"])
      expect(loadConfig({ HOST: ok }).host).toBe(ok);
    for (const bad of ["256.1.1.1", "1.2.3", "not an address", "-bad.example", "a..b", "http://x"])
      expect(() => loadConfig({ HOST: bad })).toThrow(/HOST: expected an IP address or a host name/);
  });

  test("MAX_BUFFERED_BODY_BYTES: 64 MiB by default, at least 1 KiB", () => {
    expect(loadConfig({}).maxBufferedBodyBytes).toBe(64 * 1024 * 1024);
    expect(() => loadConfig({ MAX_BUFFERED_BODY_BYTES: "10" })).toThrow(/MAX_BUFFERED_BODY_BYTES/);
  });

  test("a setting whose type cannot fill its Config field does not compile (tsc holds this)", () => {
    // @ts-expect-error: ENGINES_DIR's text setting cannot fill the number field port.
    const wrong: SettingsOf<Pick<Config, "port">> = { port: SETTINGS.enginesDir };
    expect(wrong.port.type.accepts).toBe("a path");
  });
});

describeReadmeSettingsTable("Configuration", SETTING_LIST, loadConfig, "bun app/config.ts");
