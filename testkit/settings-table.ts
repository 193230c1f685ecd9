/**
 * README's settings tables against the declarations they are generated from (lib/settings.ts): the
 * same tests for the service's table (app/config.test.ts) and convert's (convert/cli.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Env, type Setting, settingsMarkdown } from "../lib/settings.ts";

const ROOT = join(import.meta.dir, "..");
const HEADER = "| variable | default | accepts | meaning |";

/** The lines of the settings table in README's section `## <title>`: the one whose header is HEADER. */
function readmeSettingsTable(title: string): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`README.md has no section "## ${title}"`);
  const lines = section.split("\n");
  const start = lines.indexOf(HEADER);
  if (start < 0) throw new Error(`README.md's "${title}" has no settings table`);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** GitHub's anchor for a markdown heading. */
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

/**
 * Registers the tests that README's table in section `title` is `settings` row for row, that each
 * default it shows is the one `read` uses, and that each cell is one line linking a measurement that exists.
 */
export function describeReadmeSettingsTable(
  title: string,
  settings: readonly Setting[],
  read: (env: Env) => unknown,
  printedBy: string,
) {
  describe(`README's "${title}" settings table`, () => {
    const lines = readmeSettingsTable(title);
    const rows = lines.slice(2).map((l) => {
      const [variable, dflt] = l
        .slice(1, -1)
        .split(" | ")
        .map((c) => c.trim());
      return { name: variable.replace(/`/g, ""), dflt };
    });
    const declared = settings.map((s) => s.name);

    test("has a row for every setting, in declaration order, and none for a variable that is not read", () => {
      expect(rows.map((r) => r.name).filter((n) => !declared.includes(n))).toEqual([]);
      expect(declared.filter((n) => !rows.some((r) => r.name === n))).toEqual([]);
      expect(rows.map((r) => r.name)).toEqual(declared);
    });

    test("each default it shows is what is used when the variable is unset", () => {
      for (const { name, dflt } of rows) {
        const s = settings.find((x) => x.name === name)!;
        if (s.derived !== undefined) expect({ name, dflt }).toEqual({ name, dflt: s.derived });
        else expect({ name, read: read({ [name]: dflt.replace(/^`|`$/g, "") }) }).toEqual({ name, read: read({}) });
      }
    });

    test(`is settingsMarkdown() row for row (default, accepts, meaning), as \`${printedBy}\` prints it`, () => {
      expect(lines).toEqual(settingsMarkdown(settings).split("\n"));
    });

    test("each meaning is one line, and each measurement it links exists, down to the heading", () => {
      for (const s of settings) {
        expect({ name: s.name, oneLine: !s.doc.includes("\n") && s.doc.length <= 160 }).toEqual({
          name: s.name,
          oneLine: true,
        });
        if (!s.measured) continue;
        const [file, anchor] = s.measured.split("#");
        expect({ name: s.name, file, isResult: /^bench\/results\/[^/]+\.md$/.test(file) }).toEqual({
          name: s.name,
          file,
          isResult: true,
        });
        expect({ file, exists: existsSync(join(ROOT, file)) }).toEqual({ file, exists: true });
        if (anchor === undefined) continue;
        const headings = readFileSync(join(ROOT, file), "utf8")
          .split("\n")
          .filter((l) => l.startsWith("#"))
          .map((l) => anchorOf(l.replace(/^#+\s*/, "")));
        expect(headings).toContain(anchor);
      }
    });
  });
}
