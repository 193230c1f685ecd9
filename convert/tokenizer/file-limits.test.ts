import { describe, expect, test } from "bun:test";
import { closeSync, cpSync, openSync, rmSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { ConvertError } from "../errors.ts";
import { convertModels } from "../pipeline.ts";
import { TINY, writeRandomCheckpoint } from "../random/random-checkpoint.ts";
import { MAX_TOKENIZER_JSON_BYTES, MAX_VOCAB_TXT_BYTES, MAX_VOCAB_TXT_LINES } from "./file-limits.ts";
import { chooseTokenizer } from "./tokenizer-family.ts";

const MiB = 1024 * 1024;

/** A BERT repository shipping only vocab.txt (+ tokenizer_config.json), its vocab.txt written by `lines`, a batch at a time. */
function vocabOnly(lines: (write: (text: string) => void) => void): string {
  const dir = join(tempDir("vocab-limit"), "m");
  cpSync(join(TOKENIZER_FIXTURES, "bert-base-uncased"), dir, { recursive: true });
  rmSync(join(dir, "tokenizer.json"));
  const fd = openSync(join(dir, "vocab.txt"), "w");
  lines((text) => writeSync(fd, text));
  closeSync(fd);
  return dir;
}

describe("tokenizer files are refused by size before they are read", () => {
  test("a vocab.txt of 10^7 lines is refused at convert, naming it, with memory bounded", async () => {
    const dir = vocabOnly((write) => {
      write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
      for (let from = 0; from < 10_000_000; from += 100_000)
        write(Array.from({ length: 100_000 }, (_, i) => `w${from + i}\n`).join(""));
    });
    writeRandomCheckpoint(dir, { ...TINY.bert, numLabels: 2 });
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const err = await convertModels([{ key: "m", dir, origin: { local: dir } }], { outDir: tempDir("engines") }).catch(
      (e) => e,
    );
    const grown = process.memoryUsage().rss - before;
    expect(err).toBeInstanceOf(ConvertError);
    expect(err.file).toBe(join(dir, "vocab.txt"));
    expect(err.message).toMatch(new RegExp(`vocab\\.txt: is \\d+ bytes, more than the ${MAX_VOCAB_TXT_BYTES}`));
    // Read and split, its 10^7 lines took gigabytes.
    expect(grown).toBeLessThan(200 * MiB);
  });

  test("a vocab.txt under the size limit but with more lines than any model has ids is refused", () => {
    const dir = vocabOnly((write) => {
      write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
      write("a\r\n".repeat(MAX_VOCAB_TXT_LINES));
    });
    expect(() => chooseTokenizer({ key: "m", dir })).toThrow(
      new RegExp(`vocab\\.txt: has more than ${MAX_VOCAB_TXT_LINES} lines`),
    );
  });

  test("a tokenizer.json over its limit is refused unread, the model's own or its base model's", () => {
    const dir = join(tempDir("json-limit"), "m");
    addTokenizer(dir, "roberta");
    truncateSync(join(dir, "tokenizer.json"), MAX_TOKENIZER_JSON_BYTES + 1); // sparse: nothing written
    expect(() => chooseTokenizer({ key: "m", dir })).toThrow(
      new RegExp(
        `m/tokenizer\\.json: is ${MAX_TOKENIZER_JSON_BYTES + 1} bytes, more than the ${MAX_TOKENIZER_JSON_BYTES}`,
      ),
    );
    const own = join(tempDir("json-limit"), "own");
    addTokenizer(own, "roberta");
    rmSync(join(own, "tokenizer.json"));
    expect(() => chooseTokenizer({ key: "own", dir: own, baseDir: dir })).toThrow(/m\/tokenizer\.json: is \d+ bytes/);
  });

  test("the real fixtures, up to XLM-R's 8 MB tokenizer.json, are well within the limits", () => {
    const dir = join(tempDir("json-limit"), "x");
    addTokenizer(dir, "xlmr");
    expect(chooseTokenizer({ key: "x", dir }).source).toBe("own tokenizer.json");
  });
});
