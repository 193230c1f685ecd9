/**
 * The house's import rules, held by parsing every TypeScript file's imports:
 *   lib/      what app, convert and bench share: imports only lib/
 *   app/      the service: lib/ and app/ (never convert/: first-start convert is a child process)
 *   convert/  checkpoints → ONNX → engines: lib/ and convert/ (never app/)
 *   testkit/  helpers tests and benchmarks share: anything but test/ and bench/
 *   bench/    anything but test/
 *   demo/     `bun run demo`: lib/, app/, convert/ (never testkit/: it runs without ../shared)
 *   a *.test.ts beside the code may also use testkit/
 * inside app/, the stages import the way data walks (STAGE_IMPORTS below) and no files import one
 * another in a cycle, `import type` included; and the served path (lib/, app/, convert/) tokenizes
 * only with Hugging Face's own tokenizers (npm `tokenizers`, the Rust library's binding), never a
 * JavaScript port.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { type ImportGraph, importCycles, importGraph, importsOf, specifiersOf } from "../testkit/imports.ts";

const ROOT = join(import.meta.dir, "..");
const TOPS = ["lib", "app", "convert", "testkit", "bench", "demo", "test"] as const;
type Top = (typeof TOPS)[number];

const ALLOWED: Record<Top, Top[]> = {
  lib: ["lib"],
  app: ["lib", "app"],
  convert: ["lib", "convert"],
  testkit: ["lib", "app", "convert", "testkit"],
  bench: ["lib", "app", "convert", "testkit", "bench"],
  demo: ["lib", "app", "convert", "demo"],
  test: [...TOPS],
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : tsFiles(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const topOf = (file: string): Top | null =>
  ((TOPS as readonly string[]).find((t) => file === t || file.startsWith(`${t}/`)) as Top | undefined) ?? null;

/** Every import that breaks the rules, as "from → to". */
function forbiddenEdges(): string[] {
  const bad: string[] = [];
  for (const top of TOPS)
    for (const abs of tsFiles(join(ROOT, top))) {
      const file = relative(ROOT, abs);
      const allowed = new Set<Top>(ALLOWED[top]);
      if (file.endsWith(".test.ts")) allowed.add("testkit");
      for (const spec of importsOf(readFileSync(abs, "utf8"))) {
        const target = normalize(join(dirname(file), spec));
        const to = topOf(target);
        if (to === null || !allowed.has(to)) bad.push(`${file} → ${target}`);
      }
    }
  return bad;
}

/**
 * Data walks tokenize → batching → inference → workers. A stage imports the stages the data has
 * passed (it reads their rows, RowRef beside the packer; it implements the ports they own, the
 * batcher's BatchRunner) and never one it has yet to reach. workers/ (the supervised thread, its
 * restart policy and protocol) is what the inference worker runs in, generic over what it carries:
 * it imports no stage, and inference builds on it.
 */
const STAGES = ["tokenize", "batching", "inference", "workers"] as const;
type Stage = (typeof STAGES)[number];
const STAGE_IMPORTS: Record<Stage, Stage[]> = {
  tokenize: [],
  batching: ["tokenize"],
  inference: ["tokenize", "batching", "workers"],
  workers: [],
};

const stageOf = (file: string): Stage | null => STAGES.find((s) => file.startsWith(`app/${s}/`)) ?? null;

/** Every import from one stage of app/ into another that it may not import, as "from → to". */
function stageEdgesAgainstTheWalk(graph: ImportGraph): string[] {
  const bad: string[] = [];
  for (const [file, targets] of graph) {
    const from = stageOf(file);
    if (from === null) continue;
    for (const target of targets) {
      const to = stageOf(target);
      if (to !== null && to !== from && !STAGE_IMPORTS[from].includes(to)) bad.push(`${file} → ${target}`);
    }
  }
  return bad;
}

const appFiles = () => tsFiles(join(ROOT, "app")).map((abs) => relative(ROOT, abs));
const appGraph = () => importGraph(ROOT, appFiles());

/** JavaScript tokenizer ports: they differ from the Rust tokenizers on XLM-R's Unigram (the naive bench peer may use them). */
const JS_TOKENIZER_PORTS = ["@huggingface/tokenizers", "@huggingface/transformers"];

describe("module boundaries", () => {
  test("the served path imports no JavaScript tokenizer port", () => {
    const used = (["lib", "app", "convert"] as const).flatMap((top) =>
      tsFiles(join(ROOT, top)).flatMap((abs) =>
        specifiersOf(readFileSync(abs, "utf8"))
          .filter((s) => JS_TOKENIZER_PORTS.some((p) => s === p || s.startsWith(`${p}/`)))
          .map((s) => `${relative(ROOT, abs)} → ${s}`),
      ),
    );
    expect(used).toEqual([]);
  });

  test("no file imports across a forbidden edge (app ↛ convert, convert ↛ app, lib ↛ anything, nothing ↛ test/)", () => {
    expect(forbiddenEdges()).toEqual([]);
  });

  test("inside app/, no stage imports one the data reaches after it (tokenize → batching → inference; workers/ imports no stage)", () => {
    expect(stageEdgesAgainstTheWalk(appGraph())).toEqual([]);
  });

  test("no import cycle among app/'s files, type-only imports counted", () => {
    expect(importCycles(appGraph())).toEqual([]);
  });

  test("the cycle finder names every file of a cycle, through type-only imports and a file importing itself", () => {
    const graph: ImportGraph = new Map([
      ["a.ts", ["b.ts", "d.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["d.ts", "e.ts"]],
      ["e.ts", []],
    ]);
    expect(importCycles(graph).sort()).toEqual([["a.ts", "b.ts", "c.ts"], ["d.ts"]]);
    const typeOnly = 'import type { A } from "./a.ts";\nexport type { B } from "./b.ts";';
    expect(importsOf(typeOnly)).toEqual(["./a.ts", "./b.ts"]);
  });

  test("the import parser sees every form the rules depend on", () => {
    const src = [
      'import { a } from "../convert/x.ts";',
      'import type { B } from "./b.ts";',
      'export { c } from "../lib/c.ts";',
      'import "./side-effect.ts";',
      'const m = await import("../convert/cli.ts");',
      'new Worker(new URL("./worker.ts", import.meta.url).href);',
      'import { d } from "onnxruntime-node";',
      "import {\n  e,\n  f,\n} from '../app/e.ts';",
    ].join("\n");
    expect(importsOf(src).sort()).toEqual(
      [
        "../app/e.ts",
        "../convert/cli.ts",
        "../convert/x.ts",
        "../lib/c.ts",
        "./b.ts",
        "./side-effect.ts",
        "./worker.ts",
      ].sort(),
    );
  });
});
