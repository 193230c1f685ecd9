import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { parseNvidiaSmi, probeGpu, tensorrtRuntimeVersion } from "./probe.ts";

const T4 = { name: "Tesla T4", computeCapability: "7.5", driver: "550.127.05", memoryMiB: 15360 };

describe("host probe", () => {
  test("nvidia-smi's CSV: the first GPU; nothing usable → null", () => {
    expect(parseNvidiaSmi("Tesla T4, 7.5, 550.127.05, 15360\nTesla T4, 7.5, 550.127.05, 15360\n")).toEqual(T4);
    expect(parseNvidiaSmi("")).toBeNull();
    expect(parseNvidiaSmi("No devices were found")).toBeNull();
    expect(parseNvidiaSmi("Tesla K80, [N/A], 470, 11441")).toBeNull();
  });

  test("a missing or failing nvidia-smi is 'no GPU' with the reason, not a crash", () => {
    expect(probeGpu("/nonexistent/nvidia-smi")).toEqual({ gpu: null, error: "/nonexistent/nvidia-smi not found" });
    expect(probeGpu("false").error).toMatch(/exited 1/);
    expect(probeGpu(join(import.meta.dir, "../../testkit/fake-gpu/nvidia-smi")).gpu).toEqual(T4);
  });

  test("TensorRT's runtime version is read off the real library file behind libnvinfer.so.10", () => {
    const a = tempDir("libs-a");
    const b = tempDir("libs-b");
    writeFileSync(join(b, "libnvinfer.so.10.8.0"), "");
    symlinkSync("libnvinfer.so.10.8.0", join(b, "libnvinfer.so.10"));
    writeFileSync(join(b, "libnvinfer_plugin.so.10.8.0"), "");
    mkdirSync(join(a, "sub"));
    expect(tensorrtRuntimeVersion([join(a, "missing"), a, b])).toBe("10.8.0");
    expect(tensorrtRuntimeVersion([a])).toBeNull();
    // The first folder on the path wins, as for the loader; within it the newest.
    writeFileSync(join(a, "libnvinfer.so.10.13.0"), "");
    writeFileSync(join(a, "libnvinfer.so.10.9.1"), "");
    expect(tensorrtRuntimeVersion([a, b])).toBe("10.13.0");
  });
});
