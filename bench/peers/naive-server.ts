/**
 * The naive peer: what a TypeScript user writes first. Five transformers.js `text-classification`
 * pipelines over the same ONNX models, run one after another for each request, no batching.
 *   bun bench/peers/naive-server.ts --engines DIR --port 8200 [--threads N]
 * The models are the service's (model.onnx + weights, linked into the layout transformers.js reads);
 * labels and tokenizers are the same. Answers POST /process with the same body shape.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { env, pipeline } from "@huggingface/transformers";
import { readStore, type StoredModel } from "../../lib/store/index.ts";

const { values } = parseArgs({
  options: { engines: { type: "string" }, port: { type: "string", default: "8200" }, threads: { type: "string" } },
});
const engines = resolve(values.engines ?? "engines");
const store = readStore(engines);
const stage = join(tmpdir(), `naive-models-${process.pid}`);

/** transformers.js reads the architecture from model_type. */
const MODEL_TYPES: Record<string, string> = {
  XLMRobertaForSequenceClassification: "xlm-roberta",
  RobertaForSequenceClassification: "roberta",
  CamembertForSequenceClassification: "camembert",
  BertForSequenceClassification: "bert",
  DistilBertForSequenceClassification: "distilbert",
};

/** transformers.js's layout: config.json, tokenizer files, onnx/model.onnx (its weights file beside it). */
function stageModel(model: StoredModel): string {
  const info = model.record;
  const dir = join(stage, model.key);
  mkdirSync(join(dir, "onnx"), { recursive: true });
  symlinkSync(join(model.dir, info.onnx.model), join(dir, "onnx", "model.onnx"));
  if (info.onnx.data) symlinkSync(join(model.dir, info.onnx.data), join(dir, "onnx", info.onnx.data));
  const tok = join(model.dir, info.tokenizer.dir);
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
    if (existsSync(join(tok, f))) symlinkSync(join(tok, f), join(dir, f));
  const id2label = Object.fromEntries(info.labels.map((l, i) => [i, l]));
  const modelType = MODEL_TYPES[info.architecture] ?? "roberta";
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: modelType,
      architectures: [info.architecture],
      id2label,
      label2id: Object.fromEntries(info.labels.map((l, i) => [l, i])),
    }),
  );
  return dir;
}

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "/";
const threads = Number(values.threads ?? availableParallelism());
const classifiers: [string, Awaited<ReturnType<typeof pipeline<"text-classification">>>][] = [];
for (const m of store.models) {
  const clf = await pipeline("text-classification", stageModel(m), {
    dtype: "fp32",
    device: "cpu",
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  classifiers.push([m.key, clf]);
}

Bun.serve({
  port: Number(values.port),
  idleTimeout: 255,
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/health/ready") return Response.json({ status: "ready" });
    if (url.pathname !== "/process" || req.method !== "POST") return new Response("not found", { status: 404 });
    const text = await req.json();
    if (typeof text !== "string") return Response.json({ error: "expected a string" }, { status: 400 });
    const answer: Record<string, { score: number; label: string }> = {};
    for (const [key, clf] of classifiers) {
      const [top] = (await clf(text, { top_k: 1 })) as { label: string; score: number }[];
      answer[key] = { score: top.score, label: top.label };
    }
    return Response.json(answer);
  },
});
console.log(`naive peer listening on ${values.port} (${classifiers.length} pipelines, ${threads} threads each)`);
