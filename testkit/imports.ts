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
