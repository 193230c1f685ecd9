import { describe, expect, test } from "bun:test";
import {
  httpUrl,
  integer,
  listOf,
  readSettings,
  type Setting,
  SettingError,
  type SettingsOf,
  settingList,
  settingsHelp,
  settingsMarkdown,
} from "./settings.ts";

interface Shape {
  port: number;
  list: ("a" | "b")[];
  nested: { url: string };
}
const tree = {
  port: { name: "P", type: integer(1, 9), default: 5, doc: "a port", measured: "bench/results/x.md#y" },
  list: { name: "L", type: listOf(["a", "b"] as const), default: ["a"], doc: "letters" },
  nested: { url: { name: "U", type: httpUrl, default: "https://example.org", doc: "where" } },
} satisfies SettingsOf<Shape>;

describe("readSettings", () => {
  test("reads nested settings; unset or empty is the default, and each read gets its own copy of a list default", () => {
    expect(readSettings<Shape>(tree, { P: "7", L: " B, a ", U: "http://h:1//" })).toEqual({
      port: 7,
      list: ["b", "a"],
      nested: { url: "http://h:1" },
    });
    const first = readSettings<Shape>(tree, { P: "" });
    first.list.push("b");
    expect(readSettings<Shape>(tree, {})).toEqual({ port: 5, list: ["a"], nested: { url: "https://example.org" } });
  });

  test("a refused value is a SettingError whose message starts with the variable", () => {
    for (const env of [{ P: "10" }, { P: "1e0" }, { L: "c" }, { L: " , " }, { U: "ftp://h" }]) {
      expect(() => readSettings<Shape>(tree, env)).toThrow(SettingError);
      expect(() => readSettings<Shape>(tree, env)).toThrow(new RegExp(`^${Object.keys(env)[0]}: `));
    }
  });
});

describe("the table and --help", () => {
  const list: Setting[] = settingList(tree);

  test("one markdown row per setting in declaration order, with what its parser accepts and a link to its measurement", () => {
    expect(settingsMarkdown(list).split("\n")).toEqual([
      "| variable | default | accepts | meaning |",
      "|---|---|---|---|",
      "| `P` | 5 | integer 1–9 | a port ([measured](bench/results/x.md#y)) |",
      "| `L` | `a` | a list of `a`, `b` | letters |",
      "| `U` | `https://example.org` | an http(s) URL | where |",
    ]);
  });

  test("--help: the variable, what it accepts and its default, then what it does, without markdown", () => {
    expect(settingsHelp(list).split("\n").slice(0, 4)).toEqual([
      "  P  integer 1–9, default 5",
      "      a port",
      "  L  a list of a, b, default a",
      "      letters",
    ]);
  });
});
