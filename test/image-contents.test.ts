/**
 * The image runs the service (app/index.ts, which starts convert/index.ts as a child on first start),
 * its HEALTHCHECK, and the engine builder (convert/index.ts): every file they import must be in the
 * folders the Dockerfile copies into that stage.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import { importsOf } from "../testkit/imports.ts";

const ROOT = join(import.meta.dir, "..");

/** Every repository file reachable from `entry` by relative imports. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of importsOf(readFileSync(join(ROOT, file), "utf8"))) {
      const target = normalize(join(dirname(file), spec));
      if (existsSync(join(ROOT, target))) visit(target);
    }
  };
  visit(entry);
  return seen;
}

/** The sources COPY'd from the build context into the stage named `stage` (not from other stages). */
function copiedInto(stage: string): string[] {
  const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
  const from = dockerfile.getFROMs().find((f) => f.getBuildStage() === stage)!;
  const end =
    dockerfile
      .getFROMs()
      .find((f) => f.getRange().start.line > from.getRange().start.line)
      ?.getRange().start.line ?? Infinity;
  return dockerfile
    .getCOPYs()
    .filter(
      (c) => c.getRange().start.line > from.getRange().start.line && c.getRange().start.line < end && !c.getFromFlag(),
    )
    .flatMap((c) =>
      c
        .getArguments()
        .slice(0, -1)
        .map((a) => a.getValue().replace(/\/$/, "")),
    )
    .filter((a) => !a.startsWith("--"));
}

const covered = (files: Set<string>, copied: string[]) =>
  [...files].filter((f) => !copied.some((c) => f === c || f.startsWith(`${c}/`)));

describe("the image holds what its entry points import", () => {
  test("app stage: the service, the first-start convert it spawns and the HEALTHCHECK script", () => {
    const files = new Set([
      ...closure("app/index.ts"),
      ...closure("convert/index.ts"),
      ...closure("docker/healthcheck.ts"),
    ]);
    expect(files.has("lib/store/index.ts")).toBe(true);
    expect(covered(files, copiedInto("app"))).toEqual([]);
  });

  test("engine-builder stage: convert and what it imports, and nothing of app/", () => {
    const files = closure("convert/index.ts");
    expect([...files].filter((f) => f.startsWith("app/"))).toEqual([]);
    expect(covered(files, copiedInto("engine-builder"))).toEqual([]);
  });
});
