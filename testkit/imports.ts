import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

/** Every specifier of static imports, re-exports, dynamic imports and worker entries (new URL(…, import.meta.url)). */
export function specifiersOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /(?:^|[\s;])(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g,
    /(?:^|[\s;])import\s*["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]);
  return found;
}

/** The relative ones: files of this repository. */
export const importsOf = (source: string) => specifiersOf(source).filter((s) => s.startsWith("."));

/** Each file (path from the repository root) and the repository files it imports, `import type` included. */
export type ImportGraph = Map<string, string[]>;

/** The import graph of `files` (paths from `root`), read from their sources. */
export function importGraph(root: string, files: string[]): ImportGraph {
  return new Map(
    files.map((file) => [
      file,
      importsOf(readFileSync(join(root, file), "utf8")).map((spec) => normalize(join(dirname(file), spec))),
    ]),
  );
}

/**
 * The import cycles: each a set of files that all reach one another through imports (a strongly
 * connected component, Tarjan's algorithm), a file that imports itself included.
 */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const to of graph.get(file) ?? []) {
      if (!graph.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let top: string;
    do {
      top = stack.pop()!;
      onStack.delete(top);
      component.push(top);
    } while (top !== file);
    if (component.length > 1 || graph.get(file)!.includes(file)) cycles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}
