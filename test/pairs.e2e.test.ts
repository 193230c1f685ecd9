/**
 * Text pairs through the whole stack (issue 24), as transformers' text-classification pipeline takes
 * {"text", "text_pair"}: BERT, XLM-R and DeBERTa-v3 tiny random models with their real tokenizers,
 * served with MAX_SEQUENCE_LENGTH 32 so that the pair fixtures' longest_first cuts at 32 are what the
 * service must give. /tokenize equals the fixtures' ids and token types; /process equals the scores
 * computed here from onnxruntime logits on those ids and token types. The bert-tiny-pairs oracle
 * (its texts are ids) is reproduced through convert and onnxruntime with its token types.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { Tokenizer, type TruncationStrategy } from "tokenizers";
import { convertModels } from "../convert/pipeline.ts";
import { type RandomArchitecture, TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { modelFeeds } from "../lib/onnx/feeds.ts";
import { type ModelRecord, readStore } from "../lib/store/index.ts";
import { addTokenizer, tempDir } from "../testkit/fixtures.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { startTestServer, type TestServer } from "../testkit/server.ts";
import { ORACLE, TOKENIZER_FIXTURES } from "../testkit/shared.ts";

setDefaultTimeout(180_000);

const MAX_SEQUENCE_LENGTH = 32;
const MODELS = [
  { key: "bert", architecture: "bert", fixture: "bert-base-uncased", labels: ["no", "yes"] },
  { key: "xlmr", architecture: "xlmr", fixture: "xlmr-charsmap", labels: ["a", "b", "c"] },
  {
    key: "deberta",
    architecture: "deberta",
    fixture: "deberta-v3",
    labels: ["entailment", "neutral", "contradiction"],
  },
] as const;
const engines = tempDir("pairs-engines");
let server: TestServer;
const sessions = new Map<string, { record: ModelRecord; session: ort.InferenceSession }>();

beforeAll(async () => {
  const root = tempDir("pairs-src");
  const sources = MODELS.map(({ key, architecture, labels }) => {
    const dir = join(root, key);
    writeRandomCheckpoint(dir, {
      ...TINY[architecture as RandomArchitecture],
      seed: key.length + 7,
      labels: [...labels],
    });
    addTokenizer(dir, architecture);
    return { key, dir, origin: { local: dir } };
  });
  await convertModels(sources, { outDir: engines });
  for (const m of readStore(engines).models)
    sessions.set(m.key, {
      record: m.record,
      session: await ort.InferenceSession.create(join(m.dir, m.record.onnx.model)),
    });
  server = await startTestServer(engines, { MAX_SEQUENCE_LENGTH: String(MAX_SEQUENCE_LENGTH) });
});
afterAll(async () => {
  await server?.stop();
  for (const { session } of sessions.values()) await session.release();
});

interface Ids {
  input_ids: number[];
  token_type_ids: number[];
}
interface PairCase extends Ids {
  text: string;
  text_pair: string;
  truncation_longest_first_32: Ids;
}
const pairCases = (fixture: string): PairCase[] =>
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `pairs-${fixture}-expected.json`), "utf8")).cases;
const pairOf = (c: PairCase) => ({ text: c.text, text_pair: c.text_pair });

/** Each label's score from onnxruntime's logits on the ids and token types, by the record's activation, best first. */
async function reference(key: string, ids: number[], types: number[]) {
  const { record, session } = sessions.get(key)!;
  const input = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
  const out = await session.run(modelFeeds([ids], input, [types]));
  const logits = Array.from(out[record.onnx.outputs[0]].data as Float32Array);
  const exps = logits.map((l) => Math.exp(l - Math.max(...logits)));
  const scores =
    record.activation === "sigmoid"
      ? logits.map((l) => 1 / (1 + Math.exp(-l)))
      : exps.map((e) => e / exps.reduce((a, b) => a + b));
  return record.labels.map((label, i) => ({ label, score: scores[i] })).sort((a, b) => b.score - a.score);
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return res.json();
}

type Tokens = { models: string[]; ids: number[]; tokenTypeIds: number[] };

describe("text pairs through /tokenize and /process", () => {
  for (const { key, fixture } of MODELS)
    test(`POST /tokenize gives all 62 ${fixture} pairs' ids and token types, cut longest_first at ${MAX_SEQUENCE_LENGTH}`, async () => {
      const all = pairCases(fixture);
      const answers = (await post("/tokenize", all.map(pairOf))) as Tokens[][];
      const wrong = all.filter((c, i) => {
        const got = answers[i].find((f) => f.models.includes(key))!;
        const want = c.truncation_longest_first_32;
        return !Bun.deepEquals([got.ids, got.tokenTypeIds], [want.input_ids, want.token_type_ids]);
      });
      expect([answers.length, wrong.map((c) => c.text.slice(0, 30))]).toEqual([62, []]);
      // Cuts happen, and BERT and DeBERTa give the second text type 1 (XLM-R: all 0).
      expect(all.filter((c) => c.input_ids.length > MAX_SEQUENCE_LENGTH).length).toBeGreaterThan(10);
      const typeOnes = all.some((c) => c.truncation_longest_first_32.token_type_ids.includes(1));
      expect(typeOnes).toBe(key !== "xlmr");
    });

  test("POST /tokenize with one pair answers per family, the pair template's token types included", async () => {
    const c = pairCases("bert-base-uncased")[0];
    const families = (await post("/tokenize", pairOf(c))) as Tokens[];
    const bert = families.find((f) => f.models.includes("bert"))!;
    expect([bert.ids, bert.tokenTypeIds]).toEqual([
      c.truncation_longest_first_32.input_ids,
      c.truncation_longest_first_32.token_type_ids,
    ]);
  });

  test("POST /process with pairs equals onnxruntime's scores on the fixtures' ids and token types, for every model", async () => {
    const picked = [0, 5, 20, 40, 55];
    const expected = await Promise.all(
      picked.map(async (i) =>
        Object.fromEntries(
          await Promise.all(
            MODELS.map(async ({ key, fixture }) => {
              const want = pairCases(fixture)[i].truncation_longest_first_32;
              return [key, (await reference(key, want.input_ids, want.token_type_ids))[0]];
            }),
          ),
        ),
      ),
    );
    // The three fixtures hold the same pairs in the same order.
    const pairs = picked.map((i) => pairOf(pairCases("bert-base-uncased")[i]));
    expect(picked.map((i) => pairOf(pairCases("deberta-v3")[i]))).toEqual(pairs);
    const answers = (await post("/process", pairs)) as Record<string, { label: string; score: number }>[];
    expect(answers.length).toBe(picked.length);
    answers.forEach((answer, n) => {
      for (const { key } of MODELS) {
        expect(answer[key].label).toBe(expected[n][key].label);
        expect(answer[key].score).toBeCloseTo(expected[n][key].score, 5);
      }
    });
  });

  test("the BERT model's answer depends on the token types: zeroing them changes its scores", async () => {
    const want = pairCases("bert-base-uncased")[20].truncation_longest_first_32;
    const typed = await reference("bert", want.input_ids, want.token_type_ids);
    const zeroed = await reference(
      "bert",
      want.input_ids,
      want.token_type_ids.map(() => 0),
    );
    expect(want.token_type_ids).toContain(1);
    expect(Math.abs(typed[0].score - zeroed.find((z) => z.label === typed[0].label)!.score)).toBeGreaterThan(1e-4);
  });

  test("an array mixing texts and pairs is answered in order, each as it would be alone", async () => {
    const pair = pairOf(pairCases("bert-base-uncased")[5]);
    const mixed = ["I love this", pair, "", pair, "terrible"];
    const answers = (await post("/process", mixed)) as unknown[];
    const alone = await Promise.all(mixed.map((m) => post("/process", m)));
    expect(answers).toEqual(alone);
    expect(answers[1]).toEqual(answers[3]);
    expect(answers[1]).not.toEqual(answers[0]);
  });

  test("a pair of the wrong shape is 422 invalid_input", async () => {
    const res = await fetch(`${server.url}/process`, { method: "POST", body: JSON.stringify([{ text: "a" }]) });
    expect(res.status).toBe(422);
    expect((await res.json()).error.code).toBe("invalid_input");
  });
});

describe("?truncation_direction=left", () => {
  /** The Rust library's own cut at 32 from the left: tokenizer.json with truncation_side "left". */
  const leftCutter = (fixture: string) => {
    const t = Tokenizer.fromFile(join(TOKENIZER_FIXTURES, fixture, "tokenizer.json"));
    t.setTruncation(MAX_SEQUENCE_LENGTH, { strategy: "LongestFirst" as TruncationStrategy, direction: "left" });
    return t;
  };

  test("pairs and texts are cut from their start: every model's answer equals onnxruntime's on the Rust library's left cut", async () => {
    const picked = [0, 5, 20, 40, 55];
    const inputs = picked.flatMap((i) => {
      const c = pairCases("bert-base-uncased")[i];
      return [pairOf(c), c.text];
    });
    const recycled = async () => {
      const text = await scrape(server.url);
      expect(text).toContain("\nclassifier_tokenizer_recycled_total ");
      return sample(text, "classifier_tokenizer_recycled_total");
    };
    const before = await recycled();
    const answers = (await post("/process?truncation_direction=left&top_k=all", inputs)) as Record<
      string,
      { label: string; score: number }[]
    >[];
    const right = (await post("/process?top_k=all", inputs)) as typeof answers;
    let differs = 0;
    for (const { key, fixture } of MODELS) {
      const cutter = leftCutter(fixture);
      for (const [n, input] of inputs.entries()) {
        const e =
          typeof input === "string" ? await cutter.encode(input) : await cutter.encode(input.text, input.text_pair);
        const want = await reference(key, e.getIds(), e.getTypeIds());
        expect(answers[n][key].map((a) => a.label)).toEqual(want.map((w) => w.label));
        answers[n][key].forEach((a, i) => {
          expect(a.score).toBeCloseTo(want[i].score, 5);
        });
        if (!Bun.deepEquals(answers[n][key], right[n][key])) differs++;
      }
    }
    expect(differs).toBeGreaterThan(5); // the side matters for these inputs: the check is not vacuous
    // Loading the left cutters at their first use is counted as loading, not growth: no process replaced.
    expect(await recycled()).toBe(before);
  });

  test("a value other than left or right is 400 invalid_parameter", async () => {
    const res = await fetch(`${server.url}/process?truncation_direction=up`, { method: "POST", body: '"a"' });
    expect([res.status, (await res.json()).error.code]).toEqual([400, "invalid_parameter"]);
  });
});

describe("the bert-tiny-pairs oracle", () => {
  test("converted, onnxruntime reproduces its logits with its token types (and not with types 0)", async () => {
    const name = "bert-tiny-pairs";
    const dir = join(tempDir("pairs-oracle"), name);
    cpSync(join(ORACLE, name), dir, { recursive: true });
    addTokenizer(dir, "bert");
    const out = tempDir("pairs-oracle-engines");
    await convertModels([{ key: name, dir, origin: { local: dir }, allowVocabMismatch: true }], { outDir: out });
    const { record, dir: modelDir } = readStore(out).models[0];
    const expected = JSON.parse(readFileSync(join(ORACLE, name, "expected.json"), "utf8"));
    const session = await ort.InferenceSession.create(join(modelDir, record.onnx.model));
    const input = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
    const rows = (expected.input_ids as number[][]).map((ids, b) =>
      ids.slice(
        0,
        (expected.attention_mask[b] as number[]).reduce((n, m) => n + m, 0),
      ),
    );
    const logitsWith = async (types: number[][]) => {
      const logits = (await session.run(modelFeeds(rows, input, types)))[record.onnx.outputs[0]].data as Float32Array;
      const want = (expected.logits as number[][]).flat();
      return Math.max(...want.map((v, i) => Math.abs(v - logits[i])));
    };
    const types = (expected.token_type_ids as number[][]).map((t, b) => t.slice(0, rows[b].length));
    expect(await logitsWith(types)).toBeLessThan(expected.tolerance.logits_abs);
    expect(await logitsWith(types.map((t) => t.map(() => 0)))).toBeGreaterThan(0.1);
    await session.release();
  });
});
