/**
 * app/ stays readable in small units: no class over 160 lines and no function over 80, held by
 * parsing every source file (tests beside the code are not counted).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { codeUnits } from "../testkit/unit-sizes.ts";

const ROOT = join(import.meta.dir, "..");
const MAX_LINES = { class: 160, function: 80 } as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("unit sizes in app/", () => {
  test("the parser counts a class's and a function's lines, nested ones included, and names them", () => {
    const text = [
      "export class Queue {", // 1
      "  add(x: number) {", // 2
      "    return [1, 2].map((n) => {", // 3
      "      return n + x;", // 4
      "    });", // 5
      "  }", // 6
      "}", // 7
      "const twice = (n: number) => 2 * n;", // 8
      "function helper() {}", // 9
    ].join("\n");
    expect(codeUnits("x.ts", text)).toEqual([
      { kind: "class", name: "Queue", line: 1, lines: 7 },
      { kind: "function", name: "add", line: 2, lines: 5 },
      { kind: "function", name: "(anonymous)", line: 3, lines: 3 },
      { kind: "function", name: "twice", line: 8, lines: 1 },
      { kind: "function", name: "helper", line: 9, lines: 1 },
    ]);
  });

  test(`no class over ${MAX_LINES.class} lines and no function over ${MAX_LINES.function}`, () => {
    const over = sourceFiles(join(ROOT, "app")).flatMap((file) =>
      codeUnits(file, readFileSync(file, "utf8"))
        .filter((u) => u.lines > MAX_LINES[u.kind])
        .map((u) => `${relative(ROOT, file)}:${u.line} ${u.kind} ${u.name}: ${u.lines} lines`),
    );
    expect(over).toEqual([]);
  });
});
