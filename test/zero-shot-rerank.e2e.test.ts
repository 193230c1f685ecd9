/**
 * POST /zero-shot against transformers' ZeroShotClassificationPipeline's rule, applied here to
 * onnxruntime logits on ids from Hugging Face's own tokenizer cutting each (sequence, hypothesis) pair
 * only_first (checked first against the pair fixture's zero-shot cases), through tiny random NLI
 * models with the real DeBERTa-v3 and XLM-R tokenizer families; and POST /rerank (TEI's) through a
 * tiny single-logit BERT cross-encoder, against sigmoid(logit) on the Rust library's longest_first cut.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { Tokenizer, type TruncationStrategy } from "tokenizers";
import { convertModels } from "../convert/pipeline.ts";
import { type RandomArchitecture, TINY, writeRandomCheckpoint } from "../convert/random/random-checkpoint.ts";
import { readStore, type ModelRecord, type StoredFamily } from "../lib/store/index.ts";
import { addTokenizer, tempDir } from "../testkit/fixtures.ts";
import { sample, scrape } from "../testkit/metrics.ts";
import { servedDocument } from "../testkit/openapi.ts";
import { startTestServer, type TestServer } from "../testkit/server.ts";
import { waitFor } from "../testkit/wait.ts";
import { TOKENIZER_FIXTURES } from "../testkit/shared.ts";

setDefaultTimeout(180_000);

/** The fixture's pairs are cut at 32: the models are served at that length. */
const MAX = 32;
const engines = tempDir("zero-shot-engines");
let server: TestServer;
/** A served model's tokenizer family folder (set once the store is read). */
let familyOf: (key: string) => string;
const served = new Map<
  string,
  { record: ModelRecord; session: ort.InferenceSession; cutter: Tokenizer; whole: Tokenizer }
>();

beforeAll(async () => {
  const root = tempDir("zero-shot-src");
  const model = (key: string, architecture: RandomArchitecture, labels: string[], defaultFanOut?: boolean) => {
    const dir = join(root, key);
    const head = labels.length > 0 ? { labels } : { numLabels: 1 }; // a cross-encoder: one logit
    writeRandomCheckpoint(dir, { ...TINY[architecture], seed: key.length * 7, ...head });
    addTokenizer(dir, architecture);
    return { key, dir, origin: { local: dir }, defaultFanOut };
  };
  await convertModels(
    [
      // Served beside the classifiers without joining a bare /process (the manifest's defaultFanOut).
      model("nli", "deberta", ["entailment", "neutral", "contradiction"], false),
      // Entailment last: the multi-label rule then takes contradiction from the first logit.
      model("xnli", "xlmr", ["contradiction", "neutral", "entailment"]),
      model("sentiment", "xlmr", ["negative", "positive"]),
      model("ranker", "bert", [], false),
    ],
    { outDir: engines },
  );
  const store = readStore(engines);
  const familyDir = (f: string) => (store.families.find((x) => x.id === f) as StoredFamily).dir;
  familyOf = (key: string) => familyDir(served.get(key)?.record.tokenizer.family ?? "");
  for (const m of store.models) {
    const file = join(familyDir(m.record.tokenizer.family), "tokenizer.json");
    const cutter = Tokenizer.fromFile(file);
    const strategy = m.key === "ranker" ? "LongestFirst" : "OnlyFirst"; // rerank cuts as /process does
    cutter.setTruncation(MAX, { strategy: strategy as TruncationStrategy });
    served.set(m.key, {
      record: m.record,
      session: await ort.InferenceSession.create(join(m.dir, m.record.onnx.model)),
      cutter,
      whole: Tokenizer.fromFile(file),
    });
  }
  server = await startTestServer(engines, { MAX_SEQUENCE_LENGTH: String(MAX), MAX_CANDIDATE_LABELS: "6" });
});
afterAll(async () => {
  await server?.stop();
  for (const { session } of served.values()) await session.release();
});

/** The pair's ids and token types as the Rust library cuts it only_first; uncut where it cannot, as transformers falls back. */
async function pairIds(key: string, text: string, pair: string) {
  const { cutter, whole } = served.get(key)!;
  const encoding = await cutter.encode(text, pair).catch(() => whole.encode(text, pair));
  return { ids: encoding.getIds(), types: encoding.getTypeIds() };
}

async function logits(key: string, text: string, pair: string): Promise<number[]> {
  const { record, session } = served.get(key)!;
  const { ids, types } = await pairIds(key, text, pair);
  const tensor = (v: number[]) => new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const feeds: Record<string, ort.Tensor> = { input_ids: tensor(ids), attention_mask: tensor(ids.map(() => 1)) };
  if (record.onnx.inputs.includes("token_type_ids")) feeds.token_type_ids = tensor(types);
  return Array.from((await session.run(feeds))[record.onnx.outputs[0]].data as Float32Array);
}

/** The pipeline's answer for one sequence, computed here in float64 from the reference logits. */
async function expected(
  key: string,
  sequence: string,
  labels: string[],
  multi: boolean,
  template = "This example is {}.",
) {
  const { record } = served.get(key)!;
  const entail = record.labels.findIndex((l) => l.toLowerCase().startsWith("entail"));
  const contra = entail === 0 ? record.labels.length - 1 : 0;
  const rows = await Promise.all(labels.map((l) => logits(key, sequence, template.replace("{}", l))));
  const scores =
    multi || labels.length === 1
      ? rows.map((r) => Math.exp(r[entail]) / (Math.exp(r[contra]) + Math.exp(r[entail])))
      : rows.map((r) => Math.exp(r[entail]) / rows.reduce((n, x) => n + Math.exp(x[entail]), 0));
  const order = labels.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  return { sequence, labels: order.map((i) => labels[i]), scores: order.map((i) => scores[i]) };
}

async function zeroShot(body: unknown) {
  return fetch(`${server.url}/zero-shot`, { method: "POST", body: JSON.stringify(body) });
}

function expectClose(got: { sequence: string; labels: string[]; scores: number[] }, want: typeof got) {
  expect([got.sequence, got.labels]).toEqual([want.sequence, want.labels]);
  got.scores.forEach((s, i) => {
    expect(Math.abs(s - want.scores[i])).toBeLessThan(1e-5);
  });
}

interface PairCase {
  text: string;
  text_pair: string;
  kind: string;
  truncation_only_first_32: { input_ids: number[] } | "error";
}
const zeroShotCases = (
  JSON.parse(readFileSync(join(TOKENIZER_FIXTURES, "pairs-deberta-v3-expected.json"), "utf8")).cases as PairCase[]
).filter((c) => c.kind.startsWith("zero-shot"));

describe("POST /zero-shot", () => {
  test("the reference's only_first cut is the fixture's for every zero-shot pair (DeBERTa-v3)", async () => {
    for (const c of zeroShotCases)
      if (c.truncation_only_first_32 !== "error")
        expect((await pairIds("nli", c.text, c.text_pair)).ids).toEqual(c.truncation_only_first_32.input_ids);
    expect(zeroShotCases.length).toBeGreaterThan(20);
  });

  test("one label per fixture sequence: its entailment against contradiction, as the pipeline scores a single label", async () => {
    for (const c of zeroShotCases.slice(0, 12)) {
      const label = c.text_pair.replace(/^This example is (.*)\.$/, "$1");
      const res = await zeroShot({ sequences: c.text, candidate_labels: [label], model: "nli" });
      expect(res.status).toBe(200);
      expectClose(await res.json(), await expected("nli", c.text, [label], false));
    }
  });

  for (const [key, multi] of [
    ["nli", false],
    ["nli", true],
    ["xnli", false],
    ["xnli", true],
  ] as const)
    test(`${key}, multi_label ${multi}: several labels for several sequences, a long one cut only_first`, async () => {
      const labels = ["positive", "negative", "politics", "sports", "not urgent"];
      const sequences = [...zeroShotCases.slice(0, 3).map((c) => c.text), "word ".repeat(200)];
      const res = await zeroShot({ sequences, candidate_labels: labels.join(", "), multi_label: multi, model: key });
      expect(res.status).toBe(200);
      const answers = await res.json();
      expect(answers).toHaveLength(sequences.length);
      for (const [i, s] of sequences.entries()) expectClose(answers[i], await expected(key, s, labels, multi));
      if (!multi)
        for (const a of answers)
          expect(Math.abs(a.scores.reduce((n: number, x: number) => n + x, 0) - 1)).toBeLessThan(1e-5);
    });

  test("a template of one's own", async () => {
    const sequence = zeroShotCases[0].text;
    const res = await zeroShot({
      sequences: sequence,
      candidate_labels: ["joy", "anger"],
      hypothesis_template: "The mood is {}",
      model: "xnli",
    });
    expectClose(await res.json(), await expected("xnli", sequence, ["joy", "anger"], false, "The mood is {}"));
  });

  test("a long template, where only_first (the premise alone gives way) differs from longest_first", async () => {
    const long = "Reading this example with some care and at a leisurely pace, one would say that its subject is {}.";
    const premise = "word ".repeat(100);
    expect((await pairIds("nli", premise, long.replace("{}", "joy"))).ids.length).toBe(MAX);
    const labels = ["joy", "anger", "fear"];
    const res = await zeroShot({
      sequences: premise,
      candidate_labels: labels,
      hypothesis_template: long,
      model: "nli",
    });
    expectClose(await res.json(), await expected("nli", premise, labels, false, long));
  });

  test("what it cannot do is 422 invalid_input, saying why", async () => {
    const refused = async (body: object, why: string) => {
      const res = await zeroShot(body);
      const error = (await res.json()).error;
      expect([res.status, error.code]).toEqual([422, "invalid_input"]);
      expect(error.message).toContain(why);
    };
    const base = { sequences: "a text", candidate_labels: ["a", "b"], model: "nli" };
    await refused({ ...base, candidate_labels: [] }, "candidate_labels is empty");
    await refused({ ...base, candidate_labels: " , " }, "candidate_labels is empty");
    await refused({ ...base, hypothesis_template: "no slot" }, 'must hold "{}" once');
    await refused({ ...base, hypothesis_template: "{} and {}" }, 'must hold "{}" once');
    await refused(
      { ...base, candidate_labels: ["1", "2", "3", "4", "5", "6", "7"] },
      "the limit is 6 (MAX_CANDIDATE_LABELS)",
    );
    await refused({ ...base, model: "sentiment" }, 'none of its labels (negative, positive) starts with "entail"');
    await refused({ ...base, model: "nope" }, "the models served are nli, xnli, sentiment, ranker");
    await refused({ sequences: "a text", candidate_labels: ["a"] }, "several can: nli, xnli");
    const wrongShape = await zeroShot({ sequences: 3, candidate_labels: ["a"] });
    expect([wrongShape.status, (await wrongShape.json()).error.code]).toEqual([422, "invalid_input"]);
  });
});

describe("POST /rerank (TEI's)", () => {
  const query = "What is the capital of Egypt?";
  const texts = [
    "Cairo is the capital of Egypt and its largest city.",
    "Bitcoin to the moon 🚀",
    "word ".repeat(60),
    "The Nile flows north through Egypt.",
  ];
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

  test("every text's sigmoid(logit) of the (query, text) pair, highest first; top_n, return_text and raw_scores as TEI has them", async () => {
    const logit = await Promise.all(texts.map(async (t) => (await logits("ranker", query, t))[0]));
    const order = texts.map((_, i) => i).sort((a, b) => logit[b] - logit[a]);
    const res = await fetch(`${server.url}/rerank`, { method: "POST", body: JSON.stringify({ query, texts }) });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { index: number; score: number; text?: string }[];
    expect(answer.map((a) => a.index)).toEqual(order);
    answer.forEach((a) => {
      expect(Math.abs(a.score - sigmoid(logit[a.index]))).toBeLessThan(1e-5);
      expect(a.text).toBeUndefined();
    });
    const some = await fetch(`${server.url}/rerank`, {
      method: "POST",
      body: JSON.stringify({ query, texts, top_n: 2, return_text: true, raw_scores: true, model: "ranker" }),
    });
    const best = (await some.json()) as { index: number; score: number; text?: string }[];
    expect(best.map((a) => [a.index, a.text])).toEqual(order.slice(0, 2).map((i) => [i, texts[i]]));
    best.forEach((a) => {
      expect(Math.abs(a.score - logit[a.index])).toBeLessThan(1e-5);
    });
  });

  test("the same pairs through /process give the same scores (one sigmoid label)", async () => {
    const res = await fetch(`${server.url}/process?models=ranker`, {
      method: "POST",
      body: JSON.stringify(texts.map((t) => ({ text: query, text_pair: t }))),
    });
    const answers = (await res.json()) as { ranker: { label: string; score: number } }[];
    for (const [i, t] of texts.entries()) {
      expect(answers[i].ranker.label).toBe("LABEL_0");
      expect(Math.abs(answers[i].ranker.score - sigmoid((await logits("ranker", query, t))[0]))).toBeLessThan(1e-5);
    }
  });

  test("models out of the default fan-out answer only when named; /models says which are in it", async () => {
    const post = (query: string) => fetch(`${server.url}/process${query}`, { method: "POST", body: '"a text"' });
    expect(Object.keys(await (await post("")).json())).toEqual(["xnli", "sentiment"]);
    expect(Object.keys(await (await post("?models=nli,sentiment")).json())).toEqual(["nli", "sentiment"]);
    const models = (await (await fetch(`${server.url}/models`)).json()) as { key: string; defaultFanOut: boolean }[];
    expect(models.map((m) => [m.key, m.defaultFanOut])).toEqual([
      ["nli", false],
      ["xnli", true],
      ["sentiment", true],
      ["ranker", false],
    ]);
  });

  test("truncation_direction left cuts each text's start, as the Rust library does with direction left", async () => {
    const left = Tokenizer.fromFile(join(familyOf("ranker"), "tokenizer.json"));
    left.setTruncation(MAX, { strategy: "LongestFirst" as TruncationStrategy, direction: "left" });
    const { session } = served.get("ranker")!;
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" "); // each end of it differs
    const rerank = async (direction: string) => {
      const body = { query: long, texts, truncation_direction: direction, raw_scores: true };
      const res = await fetch(`${server.url}/rerank`, { method: "POST", body: JSON.stringify(body) });
      return (await res.json()) as { index: number; score: number }[];
    };
    const answer = await rerank("Left"); // TEI's enum spelling; lower case is taken too
    expect(answer).not.toEqual(await rerank("right"));
    for (const a of answer) {
      const e = await left.encode(long, texts[a.index]);
      const ids = e.getIds();
      const feeds = { input_ids: ids, attention_mask: ids.map(() => 1), token_type_ids: e.getTypeIds() };
      const tensors = Object.fromEntries(
        Object.entries(feeds).map(([k, v]) => [
          k,
          new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [1, v.length]),
        ]),
      );
      const logit = ((await session.run(tensors)).logits.data as Float32Array)[0];
      expect(Math.abs(a.score - logit)).toBeLessThan(1e-5);
    }
  });

  test("truncate: false refuses a pair longer than the model takes (413 text_too_long, as TEI); pairs that fit are answered", async () => {
    const long = await fetch(`${server.url}/rerank`, {
      method: "POST",
      body: JSON.stringify({ query, texts, truncate: false }),
    });
    const error = (await long.json()).error;
    expect([long.status, error.code]).toEqual([413, "text_too_long"]);
    expect(error.message).toContain(
      `input 2 has ${(await served.get("ranker")!.whole.encode(query, texts[2])).getIds().length} tokens and model ranker takes at most ${MAX}`,
    );
    const fits = await fetch(`${server.url}/rerank`, {
      method: "POST",
      body: JSON.stringify({ query, texts: [texts[0], texts[1]], truncate: false }),
    });
    expect(fits.status).toBe(200);
  });

  test("a model that cannot rerank and an unknown one are 422 saying why", async () => {
    const refused = async (body: object, why: string) => {
      const res = await fetch(`${server.url}/rerank`, { method: "POST", body: JSON.stringify(body) });
      const error = (await res.json()).error;
      expect([res.status, error.code]).toEqual([422, "invalid_input"]);
      expect(error.message).toContain(why);
    };
    await refused({ query, texts, model: "nli" }, "its head has 3 labels");
    await refused({ query, texts, model: "nope" }, "unknown model");
  });
});

describe("each route's rows", () => {
  test("/zero-shot counts sequences × labels, /rerank its texts, /process texts × models; each answer says where the time went", async () => {
    const rows = async () => {
      const text = await scrape(server.url);
      return ["/zero-shot", "/rerank", "/process"].map((route) =>
        sample(text, "classifier_request_rows_total", { route }),
      );
    };
    const before = await rows();
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
    const answers = await Promise.all([
      post("/zero-shot", { sequences: ["one", "two"], candidate_labels: ["a", "b", "c"], model: "nli" }),
      post("/rerank", { query: "q", texts: ["a", "b", "c", "d"] }),
      post("/process", ["x", "y"]), // the default fan-out: xnli and sentiment
    ]);
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.headers.get("x-inference-time")).toMatch(/^\d+\.\d\d$/);
      await res.text();
    }
    // Counted once each answer is written.
    const added = async () => (await rows()).map((n, i) => n - before[i]);
    await waitFor(async () => (await added()).every((n) => n > 0), "every route's rows counted", 2000);
    expect(await added()).toEqual([6, 4, 4]);
  });
});

describe("the served /openapi document", () => {
  test("/zero-shot's and /rerank's answers and refusals validate against it, exactly", async () => {
    const { violations } = await servedDocument(server.url);
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
    const cases: [string, unknown, number][] = [
      ["/zero-shot", { sequences: "one", candidate_labels: ["a", "b"], model: "nli" }, 200],
      ["/zero-shot", { sequences: ["one", "two"], candidate_labels: "a, b", multi_label: true, model: "xnli" }, 200],
      ["/zero-shot", { sequences: "one", candidate_labels: [], model: "nli" }, 422],
      ["/rerank", { query: "q", texts: ["a", "b"], return_text: true, top_n: 1 }, 200],
      ["/rerank", { query: "q", texts: ["a"], raw_scores: true, truncation_direction: "left" }, 200],
      ["/rerank", { query: "q", texts: ["word ".repeat(60)], truncate: false }, 413],
      ["/rerank", { query: "q", texts: ["a"], model: "nli" }, 422],
    ];
    for (const [path, body, status] of cases) {
      const res = await post(path, body);
      expect(res.status).toBe(status);
      expect(await violations(res, path, "post")).toEqual([]);
    }
  });
});
