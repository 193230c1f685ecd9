import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "../lib/store/index.ts";
import { tempDir } from "../testkit/fixtures.ts";
import { listenFailure, loadFailure } from "./startup-failure.ts";

const listenError = (code: string) => Object.assign(new Error("Failed to start server"), { code, syscall: "listen" });

describe("listenFailure", () => {
  test("a taken port names the port and says to free it or pick another", () => {
    const f = listenFailure(listenError("EADDRINUSE"), "0.0.0.0", 8000);
    expect(f).toEqual({ stage: "listen", error: "port 8000 on 0.0.0.0 is already in use", fix: expect.any(String) });
    expect(f.fix).toContain("PORT");
  });

  test("an address this machine does not have, or cannot resolve, is HOST's fault", () => {
    for (const code of ["EADDRNOTAVAIL", "EINVAL", "ENOTFOUND"]) {
      const f = listenFailure(listenError(code), "10.9.9.9", 8000);
      expect([f.error, f.fix]).toEqual([
        `HOST=10.9.9.9 is not an address of this machine (${code})`,
        expect.any(String),
      ]);
    }
  });

  test("a privileged port says which ports are allowed; anything else keeps the error's own words", () => {
    expect(listenFailure(listenError("EACCES"), "0.0.0.0", 80).fix).toBe("set PORT to 1024 or above");
    expect(listenFailure(new Error("odd"), "h", 1).error).toBe("cannot listen on h:1: odd");
  });
});

describe("loadFailure", () => {
  const engines = tempDir("startup-failure");
  writeFileSync(join(engines, "index.json"), "{");

  test("a broken store file is named, and convert rewrites it", () => {
    const file = join(engines, "index.json");
    const f = loadFailure(new StoreError(file, "not valid JSON"), engines);
    expect([f.stage, f.file, f.fix]).toEqual([
      "engines",
      file,
      expect.stringContaining(`bun run convert --out ${engines}`),
    ]);
  });

  test("a missing store file is named, with the ways to make one", () => {
    const file = join(engines, "elsewhere", "index.json");
    const f = loadFailure(new StoreError(file, "not found"), engines);
    expect([f.file, f.fix]).toEqual([file, expect.stringContaining("AUTO_CONVERT=true")]);
  });

  test("a missing model file (ENOENT) is named by its path", () => {
    const path = join(engines, "m", "model.onnx");
    const enoent = Object.assign(new Error(`ENOENT: no such file or directory, stat '${path}'`), {
      code: "ENOENT",
      path,
    });
    expect(loadFailure(enoent, engines).file).toBe(path);
  });

  test("a model that does not load: the file its error names, without the punctuation after it", () => {
    const model = join(engines, "m", "model.onnx");
    const ort = new Error(`m#0: failed to load: cpu: Load model from ${model} failed:Protobuf parsing failed.`);
    const checked = new Error(`m#0: failed to load: ${model}: has sha256 233d…, engine.json records d7f2…`);
    for (const e of [ort, checked]) {
      const f = loadFailure(e, engines);
      expect([f.stage, f.file, f.fix]).toEqual([
        "loading models",
        model,
        expect.stringContaining(`delete ${join(engines, "m")}`),
      ]);
    }
  });

  test("an error that names no file still says what to do", () => {
    const f = loadFailure(new Error("JSON Parse error: Unexpected EOF"), engines);
    expect([f.file, f.fix]).toEqual([undefined, expect.stringContaining("bun run convert")]);
  });
});
