import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { TINY, writeRandomCheckpoint } from "../random/random-checkpoint.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { TOKENIZER_FIXTURES } from "../../testkit/shared.ts";
import { addBacktrackingRegex, BACKTRACKING_REGEX } from "../../testkit/hostile-tokenizer.ts";
import { ConvertError } from "../errors.ts";
import { convertModels } from "../pipeline.ts";
import { checkTokenizerSafety, probeTokenizer } from "./tokenizer-safety.ts";

// Each probe is a child process loading a real tokenizer (about a second for XLM-R) on a 2-core machine.
setDefaultTimeout(60_000);

/** A copy of a real tokenizer fixture with the backtracking regex added at `where`. */
function backtracking(where: "pre_tokenizer" | "normalizer", fixture = "roberta-base"): string {
  const dir = join(tempDir("backtracking"), fixture);
  cpSync(join(TOKENIZER_FIXTURES, fixture), dir, { recursive: true });
  addBacktrackingRegex(join(dir, "tokenizer.json"), where);
  return join(dir, "tokenizer.json");
}

async function refusal(check: Promise<unknown>): Promise<ConvertError> {
  const error = await check.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConvertError);
  return error as ConvertError;
}

describe("a tokenizer whose regex could abort the process is refused, naming the pattern and the file", () => {
  test("a Split in the pre-tokenizer's Sequence", async () => {
    const file = backtracking("pre_tokenizer");
    const e = await refusal(checkTokenizerSafety(file));
    expect(e.file).toBe(file);
    expect(e.message).toContain(`pre_tokenizer.pretokenizers[0] (Split) has the regex "${BACKTRACKING_REGEX}"`);
    expect(e.message).toContain("nested quantifiers");
  });

  test("a Replace in the normalizer's Sequence", async () => {
    const file = backtracking("normalizer", "xlmr-synthetic");
    const e = await refusal(checkTokenizerSafety(file));
    expect(e.message).toContain(`normalizer.normalizers[0] (Replace) has the regex "${BACKTRACKING_REGEX}"`);
  });

  test("the probe alone finds it too: the abort happens in a child process, convert reports it and lives", async () => {
    const file = backtracking("pre_tokenizer");
    const e = await refusal(probeTokenizer(file));
    expect(e.file).toBe(file);
    // The child names the text it was encoding, and the engine's own reason.
    expect(e.message).toContain('encoding an adversarial text (25 × "a" then "!") ended the process');
    expect(e.message).toContain("retry-limit-in-match over");
  });

  test("convert refuses the model before anything is written", async () => {
    const src = join(tempDir("backtracking-src"), "tiny");
    writeRandomCheckpoint(src, { ...TINY.roberta, numLabels: 2 });
    addTokenizer(src, "roberta");
    addBacktrackingRegex(join(src, "tokenizer.json"), "pre_tokenizer");
    const out = tempDir("backtracking-out");
    const e = await refusal(convertModels([{ key: "tiny", dir: src, origin: {} }], { outDir: out }));
    expect(e.message).toContain(join(src, "tokenizer.json"));
    expect(e.message).toContain(BACKTRACKING_REGEX);
    expect(existsSync(join(out, "tokenizers")) || existsSync(join(out, "tiny"))).toBe(false);
  });
});

test("every real tokenizer fixture passes the regex check and the adversarial probe", async () => {
  const dirs = readdirSync(TOKENIZER_FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory());
  expect(dirs.map((d) => d.name)).toEqual(
    expect.arrayContaining(["roberta-base", "modernbert", "deberta-v3", "xlmr-charsmap"]),
  );
  for (const d of dirs) await checkTokenizerSafety(join(TOKENIZER_FIXTURES, d.name, "tokenizer.json"));
});
