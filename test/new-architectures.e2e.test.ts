/**
 * Today's classifiers served beside XLM-R (issue 23): DeBERTa-v3 (its SentencePiece tokenizer, and
 * the same tokenizer written from spm.model alone), ModernBERT (byte-level BPE, rotary, local
 * attention) and ELECTRA, random tiny checkpoints with the real vocabularies. /tokenize gives the
 * fixtures' independently computed ids (cut where MAX_SEQUENCE_LENGTH cuts them), and every /process
 * answer equals the scores computed here from onnxruntime logits on those ids.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { convertModels } from "../convert/pipeline.ts";
import { type RandomArchitecture, TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { type ModelRecord, readStore } from "../lib/store/index.ts";
import { addTokenizer, tempDir } from "../testkit/fixtures.ts";
import { startTestServer, type TestServer } from "../testkit/server.ts";
import { scoresOnIds } from "../testkit/reference.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";

setDefaultTimeout(180_000);

/** Longer than XLM-R's position table allows, shorter than the longest fixture cases: both limits show. */
const MAX_SEQUENCE_LENGTH = 1024;
const NLI = ["entailment", "neutral", "contradiction"];
const engines = tempDir("new-archs-engines");
let server: TestServer;
const sessions = new Map<string, { record: ModelRecord; session: ort.InferenceSession }>();

beforeAll(async () => {
  const root = tempDir("new-archs-src");
  const model = (key: string, architecture: RandomArchitecture, labels: string[]) => {
    const dir = join(root, key);
    writeRandomCheckpoint(dir, { ...TINY[architecture], seed: key.length, labels });
    addTokenizer(dir, architecture);
    return { key, dir, origin: { local: dir } };
  };
  // A DeBERTa-v3 repository that ships only spm.model and tokenizer_config.json.
  const spmOnly = model("nli_spm", "deberta", NLI);
  for (const f of ["tokenizer.json", "special_tokens_map.json", "added_tokens.json"])
    rmSync(join(spmOnly.dir, f), { force: true });
  await convertModels(
    [
      model("sentiment", "xlmr", ["negative", "neutral", "positive"]),
      model("nli", "deberta", NLI),
      spmOnly,
      model("modern", "modernbert", ["a", "b", "c"]),
      model("electra", "electra", ["no", "yes"]),
    ],
    { outDir: engines },
  );
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

interface Case {
  text: string;
  input_ids: number[];
}
const cases = (fixture: string): Case[] =>
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `${fixture}-expected.json`), "utf8")).cases;

/** The ids a model of `maxLength` sees: the fixture's, cut on the right with the closing special token kept. */
const cut = (ids: number[], maxLength: number) =>
  ids.length <= maxLength ? ids : [...ids.slice(0, maxLength - 1), ids[ids.length - 1]];

/** Each label's score from onnxruntime's logits on `ids` (testkit/reference.ts), best first. */
async function reference(key: string, ids: number[]) {
  const { record, session } = sessions.get(key)!;
  return (await scoresOnIds(session, record, ids)).sort((a, b) => b.score - a.score);
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return res.json();
}

describe("DeBERTa-v3, ModernBERT and ELECTRA served beside XLM-R", () => {
  test("each architecture as convert recorded it; spm.model alone gives the DeBERTa family its own tokenizer.json's definition", () => {
    const rec = (k: string) => sessions.get(k)!.record;
    expect(["sentiment", "nli", "modern", "electra"].map((k) => rec(k).architecture)).toEqual([
      "XLMRobertaForSequenceClassification",
      "DebertaV2ForSequenceClassification",
      "ModernBertForSequenceClassification",
      "ElectraForSequenceClassification",
    ]);
    // DeBERTa-v3 has no token types (type_vocab_size 0), ModernBERT none at all; ELECTRA has BERT's.
    expect(rec("nli").onnx.inputs).toEqual(["input_ids", "attention_mask"]);
    expect(rec("modern").onnx.inputs).toEqual(["input_ids", "attention_mask"]);
    expect(rec("electra").onnx.inputs).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(rec("nli_spm").tokenizer.definitionSha256).toBe(rec("nli").tokenizer.definitionSha256);
    expect(rec("nli_spm").tokenizer.family).toBe(rec("nli").tokenizer.family);
  });

  for (const [fixture, key] of [
    ["deberta-v3", "nli"],
    ["modernbert", "modern"],
  ] as const)
    test(`POST /tokenize gives every one of ${fixture}'s reference ids, cut at MAX_SEQUENCE_LENGTH (${MAX_SEQUENCE_LENGTH}) as truncation=True cuts them`, async () => {
      const all = cases(fixture);
      const wrong: string[] = [];
      for (let i = 0; i < all.length; i += 32) {
        const chunk = all.slice(i, i + 32);
        const answers = (await post(
          "/tokenize",
          chunk.map((c) => c.text),
        )) as {
          models: string[];
          ids: number[];
          maxLength: number;
        }[][];
        answers.forEach((families, k) => {
          const family = families.find((f) => f.models.includes(key))!;
          expect(family.maxLength).toBe(MAX_SEQUENCE_LENGTH);
          if (JSON.stringify(family.ids) !== JSON.stringify(cut(chunk[k].input_ids, MAX_SEQUENCE_LENGTH)))
            wrong.push(chunk[k].text.slice(0, 40));
        });
      }
      expect([all.length, wrong]).toEqual([196, []]);
      // The longest cases really are cut here.
      expect(all.some((c) => c.input_ids.length > MAX_SEQUENCE_LENGTH)).toBe(true);
    });

  for (const [fixture, keys, maxLength] of [
    ["deberta-v3", ["nli", "nli_spm"], MAX_SEQUENCE_LENGTH],
    ["modernbert", ["modern"], MAX_SEQUENCE_LENGTH],
    ["xlmr-charsmap", ["sentiment"], 512],
    ["bert-base-uncased", ["electra"], 512],
  ] as const)
    test(`/process equals the reference scores on ${fixture}'s ids (${keys.join(", ")}), long texts included`, async () => {
      const all = cases(fixture);
      // Short ones, and the three longest (cut at the model's limit).
      const picked = [
        ...all.slice(0, 10),
        ...[...all].sort((a, b) => b.input_ids.length - a.input_ids.length).slice(0, 3),
      ];
      const answers = (await post(
        "/process?top_k=all",
        picked.map((c) => c.text),
      )) as Record<string, { label: string; score: number }[]>[];
      for (const [t, c] of picked.entries())
        for (const key of keys) {
          const want = await reference(key, cut(c.input_ids, maxLength));
          const got = answers[t][key];
          expect(got.map((r) => r.label)).toEqual(want.map((r) => r.label));
          got.forEach((r, i) => {
            expect(Math.abs(r.score - want[i].score)).toBeLessThan(1e-5);
          });
        }
    });
});
