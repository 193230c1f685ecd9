import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { convertModels, type ModelSource } from "../../convert/pipeline.ts";
import { readStore, type ModelRecord } from "../../lib/store/index.ts";
import { tempDir, tinyManifestSources } from "../../testkit/fixtures.ts";
import { meanForwardFlops, shapeFromConfig } from "./flops.ts";
import { requestFlops, roofline } from "./roofline.ts";

// Five tiny conversions with real tokenizer files.
setDefaultTimeout(60_000);

describe("the roofline line", () => {
  test("10 req/s of 5 GFLOP each against a 100 GFLOP/s GEMM: 50 GFLOP/s achieved, half the limit", () => {
    const r = roofline(10, 5e9, 100);
    expect(r.achievedGflops).toBe(50);
    expect(r.share).toBe(0.5);
    expect(r.line).toBe("achieved 50.0 GFLOP/s = 50.0% of the box's measured GEMM rate 100.0 GFLOP/s");
  });

  test("a rate or a limit that was not measured shows as –", () => {
    expect(roofline(Number.NaN, 5e9, 100).line).toBe(
      "achieved – GFLOP/s = –% of the box's measured GEMM rate 100.0 GFLOP/s",
    );
    expect(roofline(10, 5e9, Number.NaN).line).toBe(
      "achieved 50.0 GFLOP/s = –% of the box's measured GEMM rate – GFLOP/s",
    );
  });
});

describe("FLOPs per request over the five served models", () => {
  let sources: ModelSource[] = [];
  let records: ModelRecord[] = [];
  const checkpoints = tempDir("roofline-models");
  const engines = tempDir("roofline-engines");
  beforeAll(async () => {
    sources = tinyManifestSources(checkpoints);
    await convertModels(sources, { outDir: engines, log: () => {} });
    records = readStore(engines).models.map((m) => m.record);
  });
  afterAll(() =>
    [checkpoints, engines].forEach((dir) => {
      rmSync(dir, { recursive: true, force: true });
    }),
  );

  test("the sum over models of each one's mean forward, at its family's token counts truncated at its maximum", () => {
    // 100,000 tokens is past every model's maximum: counted at the maximum, as the service truncates.
    const counts = [3, 40, 100_000];
    const lengths = new Map(records.map((r) => [r.tokenizer.family, counts]));
    const byConfig = sources.reduce((sum, s) => {
      const config = JSON.parse(readFileSync(join(s.dir, "config.json"), "utf8"));
      const record = records.find((r) => r.key === s.key)!;
      return sum + meanForwardFlops(shapeFromConfig(config), counts, record.maxLength);
    }, 0);
    expect(records.length).toBe(5);
    expect(requestFlops(records, lengths)).toBe(byConfig);
    expect(byConfig).toBeGreaterThan(0);
  });

  test("a model whose tokenizer family has no token counts is named, not counted as free", () => {
    expect(() => requestFlops(records, new Map())).toThrow(`${records[0].key}: no token lengths`);
  });
});
