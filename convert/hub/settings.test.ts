import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { type Env, readSettings } from "../../lib/settings.ts";
import { HUB_DEFAULTS, HUB_SETTINGS, type HubEnvironment, hubSettings } from "./settings.ts";

const notTty = { isTTY: false, write: () => true } as unknown as typeof process.stderr;
const fromEnv = (env: Env) => hubSettings(readSettings<HubEnvironment>(HUB_SETTINGS, env), notTty);

describe("Hub settings from the environment", () => {
  test("defaults: the Hub itself, no token, ./.cache/hub, 10 s to start an answer, 30 s of silence at most, 4 attempts from a 1 s back-off", () => {
    const s = fromEnv({});
    expect(s).toMatchObject({
      endpoint: "https://huggingface.co",
      cacheDir: resolve(".cache/hub"),
      connectTimeoutMs: 10_000,
      readTimeoutMs: 30_000,
      attempts: 4,
      retryDelayMs: 1000,
      progress: false,
    });
    expect(s.token).toBeUndefined();
    expect(s).toMatchObject(HUB_DEFAULTS);
    expect(typeof s.log).toBe("function");
  });

  test("each variable is read; empty means the default", () => {
    const s = fromEnv({
      HF_ENDPOINT: "http://mirror.local:8080/",
      HF_TOKEN: "hf_secret",
      CONVERT_CACHE_DIR: "/tmp/hub-cache",
      HF_CONNECT_TIMEOUT_MS: "200",
      HF_READ_TIMEOUT_MS: " 300 ",
      HF_MAX_ATTEMPTS: "1",
      HF_RETRY_DELAY_MS: "",
    });
    expect(s).toMatchObject({
      endpoint: "http://mirror.local:8080",
      token: "hf_secret",
      cacheDir: "/tmp/hub-cache",
      connectTimeoutMs: 200,
      readTimeoutMs: 300,
      attempts: 1,
      retryDelayMs: 1000,
    });
  });

  test("a bad value is an error naming the variable and what it accepts", () => {
    const bad = (env: Env) => () => fromEnv(env);
    expect(bad({ HF_CONNECT_TIMEOUT_MS: "10s" })).toThrow(
      /^HF_CONNECT_TIMEOUT_MS: expected an integer from 1 to 600000, got "10s"$/,
    );
    expect(bad({ HF_READ_TIMEOUT_MS: "0" })).toThrow(/^HF_READ_TIMEOUT_MS: .* got "0"$/);
    expect(bad({ HF_MAX_ATTEMPTS: "2.5" })).toThrow(/^HF_MAX_ATTEMPTS: .* from 1 to 20, got "2.5"$/);
    expect(bad({ HF_RETRY_DELAY_MS: "-1" })).toThrow(/^HF_RETRY_DELAY_MS: .* got "-1"$/);
    expect(bad({ HF_ENDPOINT: "huggingface.co" })).toThrow(/^HF_ENDPOINT: expected an http\(s\) URL/);
  });
});
