/**
 * Benchmark texts: the graders' synthetic generator (docs/LOADTEST.md), seeded and repeatable, and
 * the real corpora of ../shared/corpora.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Faker, base, en } from "@faker-js/faker";
import { parse } from "csv-parse/sync";
import { percentile } from "./load.ts";

/**
 * One text per call, as the graders' k6 script built them: words (k6's hipsterSentence, 0-10
 * words; faker-js has no hipster list, so its English word list), an emoji, a URL, more words,
 * ". ", 5-20 random ASCII characters (control characters included), a space, a bitcoin address, an
 * emoji, a space and a hacker phrase. About 0.5% of texts are "".
 */
export function gradersTexts(seed: number, emptyShare = 0.005): () => string {
  const f = new Faker({ locale: [en, base], seed });
  const words = () => f.word.words({ count: { min: 0, max: 10 } });
  const ascii = () =>
    Array.from({ length: f.number.int({ min: 5, max: 20 }) }, () =>
      String.fromCharCode(f.number.int({ min: 0, max: 127 })),
    ).join("");
  return () => {
    if (f.number.float({ min: 0, max: 1 }) < emptyShare) return "";
    return `${words()}${f.internet.emoji()}${f.internet.url()}${words()}. ${ascii()} ${f.finance.bitcoinAddress()}${f.internet.emoji()} ${f.hacker.phrase()}`;
  };
}

export const SOURCES = ["graders", "tweets", "multilingual", "language-id", "fake-news", "toxicity"] as const;
export type Source = (typeof SOURCES)[number];

const lines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
const csvColumn = (file: string, column: string, delimiter = ",") =>
  (
    parse(readFileSync(file, "utf8"), {
      columns: true,
      delimiter,
      relax_quotes: true,
      skip_empty_lines: true,
    }) as Record<string, string>[]
  )
    .map((r) => r[column])
    .filter(Boolean);

/** The texts of a source (graders: `count` generated texts from `seed`). */
export function loadTexts(source: Source, shared: string, count = 5000, seed = 1): string[] {
  const c = join(shared, "corpora");
  switch (source) {
    case "graders": {
      const next = gradersTexts(seed);
      return Array.from({ length: count }, next);
    }
    case "tweets":
      return lines(join(c, "tweeteval-sentiment", "test_text.txt"));
    case "multilingual":
      return lines(join(c, "umsab-multilingual-sentiment", "test_text.txt"));
    case "language-id":
      return csvColumn(join(c, "papluca-language-id", "test.csv"), "text");
    case "fake-news":
      return csvColumn(join(c, "covid19-fake-news", "english_test_with_labels.csv"), "tweet");
    case "toxicity":
      return [
        ...csvColumn(join(c, "detox-toxicity", "russian_data__test.tsv"), "toxic_comment", "\t"),
        ...lines(join(c, "detox-toxicity", "english_data__test_toxic_parallel.txt")),
      ];
  }
}

/** Token lengths (with <s> and </s>, before truncation at the model's maximum) as percentiles. */
export function lengthSummary(lengths: number[]) {
  const s = [...lengths].sort((a, b) => a - b);
  return {
    texts: s.length,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    max: s[s.length - 1],
    over512: s.filter((n) => n > 512).length,
  };
}
