/**
 * One service over three architectures and two tokenizer families: an XLM-R model, a multi-label
 * BERT (sigmoid per label) and a DistilBERT (softmax), random checkpoints with the real
 * vocabularies. Every answer of /process, default and top_k, is checked against the scores computed
 * here from onnxruntime logits on the fixtures' independently computed ids.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { convertModels } from "../convert/pipeline.ts";
import { TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { readStore, type ModelRecord } from "../lib/store/index.ts";
import { addTokenizer, tempDir } from "../testkit/fixtures.ts";
import { logitsOnIds, scoresOnIds } from "../testkit/reference.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";
import { postProcess, startTestServer, type TestServer } from "../testkit/server.ts";

setDefaultTimeout(120_000);

const TOXICITY = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"];
const engines = tempDir("mixed-engines");
let server: TestServer;
const sessions = new Map<string, { record: ModelRecord; session: ort.InferenceSession }>();

beforeAll(async () => {
  const root = tempDir("mixed-src");
  const model = (key: string, architecture: "xlmr" | "bert" | "distilbert", extra: object) => {
    const dir = join(root, key);
    writeRandomCheckpoint(dir, { ...TINY[architecture], seed: key.length, ...extra });
    addTokenizer(dir, architecture);
    return { key, dir, origin: { local: dir } };
  };
  await convertModels(
    [
      model("sentiment", "xlmr", { labels: ["negative", "neutral", "positive"] }),
      model("toxicity", "bert", { labels: TOXICITY, problemType: "multi_label_classification" }),
      model("polarity", "distilbert", { labels: ["NEGATIVE", "POSITIVE"] }),
    ],
    { outDir: engines },
  );
  for (const m of readStore(engines).models)
    sessions.set(m.key, {
      record: m.record,
      session: await ort.InferenceSession.create(join(m.dir, m.record.onnx.model)),
    });
  server = await startTestServer(engines);
});
afterAll(() => server?.stop());

interface Case {
  text: string;
  input_ids: number[];
}
const cases = (fixture: string, n: number): Case[] =>
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, `${fixture}-expected.json`), "utf8")).cases.slice(0, n);

/** Each label's score from onnxruntime's logits on the expected ids (testkit/reference.ts). */
async function reference(key: string, ids: number[]) {
  const { record, session } = sessions.get(key)!;
  return scoresOnIds(session, record, ids);
}

const byScore = (xs: { label: string; score: number }[]) => [...xs].sort((a, b) => b.score - a.score);

describe("one service, mixed architectures and tokenizer families", () => {
  test("engine.json records each model's activation and inputs; BERT and DistilBERT share the WordPiece family", () => {
    const rec = (k: string) => sessions.get(k)!.record;
    expect([rec("sentiment").activation, rec("toxicity").activation, rec("polarity").activation]).toEqual([
      "softmax",
      "sigmoid",
      "softmax",
    ]);
    expect(rec("toxicity").onnx.inputs).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(rec("polarity").onnx.inputs).toEqual(["input_ids", "attention_mask"]);
    expect(rec("toxicity").tokenizer.family).toBe(rec("polarity").tokenizer.family);
    expect(rec("toxicity").tokenizer.family).not.toBe(rec("sentiment").tokenizer.family);
  });

  test("the BERT family's ids through POST /tokenize equal the 90 independently computed bert-base-uncased ids", async () => {
    const all = cases("bert-base-uncased", 1000);
    const wrong: string[] = [];
    for (let i = 0; i < all.length; i += 16) {
      const chunk = all.slice(i, i + 16);
      const res = await fetch(`${server.url}/tokenize`, {
        method: "POST",
        body: JSON.stringify(chunk.map((c) => c.text)),
      });
      const answers = (await res.json()) as { models: string[]; ids: number[] }[][];
      answers.forEach((families, k) => {
        const bert = families.find((f) => f.models.includes("toxicity"))!;
        if (JSON.stringify(bert.ids) !== JSON.stringify(chunk[k].input_ids)) wrong.push(chunk[k].text.slice(0, 40));
      });
    }
    expect([all.length, wrong]).toEqual([90, []]);
  });

  for (const [fixture, keys] of [
    ["bert-base-uncased", ["toxicity", "polarity"]],
    ["xlmr-charsmap", ["sentiment"]],
  ] as const)
    test(`/process, default and top_k, equals the reference scores on ${fixture}'s ids (${keys.join(", ")})`, async () => {
      const texts = cases(fixture, 12);
      const post = async (query: string) => {
        const res = await fetch(`${server.url}/process${query}`, {
          method: "POST",
          body: JSON.stringify(texts.map((c) => c.text)),
        });
        expect(res.status).toBe(200);
        return (await res.json()) as Record<string, unknown>[];
      };
      const [top, all, two] = [await post(""), await post("?top_k=all"), await post("?top_k=2")];
      for (const [t, c] of texts.entries())
        for (const key of keys) {
          const want = await reference(key, c.input_ids);
          const best = want.reduce((a, b) => (b.score > a.score ? b : a));
          const got = top[t][key] as { label: string; score: number };
          expect([key, got.label]).toEqual([key, best.label]);
          expect(Math.abs(got.score - best.score)).toBeLessThan(1e-5);
          const ranked = all[t][key] as { label: string; score: number }[];
          expect(ranked.map((r) => r.label)).toEqual(byScore(want).map((r) => r.label));
          ranked.forEach((r, i) => {
            expect(Math.abs(r.score - byScore(want)[i].score)).toBeLessThan(1e-5);
          });
          const top2 = two[t][key] as { label: string; score: number }[];
          expect(top2.map((r) => r.label)).toEqual(
            byScore(want)
              .slice(0, 2)
              .map((r) => r.label),
          );
          top2.forEach((r, i) => {
            expect(Math.abs(r.score - byScore(want)[i].score)).toBeLessThan(1e-5);
          });
        }
      // A multi-label head's scores are independent sigmoids: they need not sum to 1.
      const toxicity = all.map((a) =>
        (a.toxicity as { score: number }[] | undefined)?.reduce((s, r) => s + r.score, 0),
      );
      if (keys.includes("toxicity" as never)) expect(toxicity.some((s) => Math.abs(s! - 1) > 0.05)).toBe(true);
    });

  test("a bad top_k is 400 invalid_parameter; the default answer keeps the challenge's {score, label} shape", async () => {
    for (const bad of ["0", "-1", "two", "1.5", ""]) {
      const res = await fetch(`${server.url}/process?top_k=${bad}`, { method: "POST", body: '"hi"' });
      expect([bad, res.status, (await res.json()).error.code]).toEqual([bad, 400, "invalid_parameter"]);
    }
    const answer = await (await postProcess(server.url, '"hi"')).json();
    expect(Object.keys(answer)).toEqual(["sentiment", "toxicity", "polarity"]);
    for (const v of Object.values(answer)) expect(Object.keys(v as object).sort()).toEqual(["label", "score"]);
  });

  test("?models= answers only those models, in the service's order, with the scores they give in the full answer; an unknown key is 400 naming the served ones", async () => {
    const texts = cases("bert-base-uncased", 4).map((c) => c.text);
    const post = async (query: string) =>
      fetch(`${server.url}/process${query}`, { method: "POST", body: JSON.stringify(texts) });
    const full = (await (await post("")).json()) as Record<string, unknown>[];
    const some = (await (await post("?models=polarity,sentiment")).json()) as Record<string, unknown>[];
    for (const [t, answer] of some.entries()) {
      expect(Object.keys(answer)).toEqual(["sentiment", "polarity"]);
      expect(answer).toEqual({ sentiment: full[t].sentiment, polarity: full[t].polarity });
    }
    for (const bad of ["nope", "sentiment,nope", ""]) {
      const res = await post(`?models=${bad}`);
      const body = await res.json();
      expect([bad, res.status, body.error.code]).toEqual([bad, 400, "invalid_parameter"]);
      expect(body.error.message).toContain("sentiment, toxicity, polarity");
    }
  });

  test("?raw_scores=true answers each label's logit (onnxruntime's on the expected ids), ranked as the scores rank them; a value not true/false is 400", async () => {
    const texts = cases("xlmr-charsmap", 3);
    const res = await fetch(`${server.url}/process?raw_scores=true&top_k=all&models=sentiment`, {
      method: "POST",
      body: JSON.stringify(texts.map((c) => c.text)),
    });
    const answers = (await res.json()) as { sentiment: { label: string; score: number }[] }[];
    const { record, session } = sessions.get("sentiment")!;
    for (const [t, c] of texts.entries()) {
      const logits = await logitsOnIds(session, record, c.input_ids);
      const want = record.labels.map((label, i) => ({ label, score: logits[i] })).sort((a, b) => b.score - a.score);
      expect(answers[t].sentiment.map((r) => r.label)).toEqual(want.map((r) => r.label));
      answers[t].sentiment.forEach((r, i) => {
        expect(Math.abs(r.score - want[i].score)).toBeLessThan(1e-5);
      });
      // Logits, not probabilities: they need not lie in [0, 1] or sum to 1.
      expect(Math.abs(answers[t].sentiment.reduce((n, r) => n + r.score, 0) - 1)).toBeGreaterThan(1e-3);
    }
    const bad = await fetch(`${server.url}/process?raw_scores=yes`, { method: "POST", body: '"hi"' });
    expect([bad.status, (await bad.json()).error.code]).toEqual([400, "invalid_parameter"]);
  });
});
