import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ModelBatcher, type BatcherStats } from "./batching/batcher.ts";
import type { Config, ExecutionProvider } from "./config.ts";
import { ApiError } from "./errors.ts";
import { ModelWorker } from "./inference/model-worker.ts";
import type { RowRef } from "./inference/protocol.ts";
import { topLabel, type ModelAnswer } from "./scoring.ts";
import { FamilyTokenizer, truncate } from "./tokenize/family-tokenizer.ts";
import type { EngineInfo, EnginesIndex } from "../convert/pipeline.ts";

export type Answer = Record<string, ModelAnswer>;

export interface ServedModel {
  key: string;
  info: EngineInfo;
  family: FamilyTokenizer;
  maxLength: number;
  batcher: ModelBatcher;
  workers: ModelWorker[];
  provider: string;
  loadMs: number;
}

export interface ServiceOptions {
  enginesDir: string;
  batch: Config["batch"];
  workersPerModel: number;
  intraOpThreads: number;
  executionProviders: ExecutionProvider[];
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The classification service, free of HTTP: texts in, one answer per text with every model's label.
 * Each text is tokenized once per family into shared memory; each model's batcher reads the rows
 * from there, so the four XLM-R models share one copy of the ids.
 */
export class ClassifierService {
  private ready = false;

  private constructor(
    readonly models: ServedModel[],
    readonly families: Map<string, FamilyTokenizer>,
  ) {}

  static async start(opts: ServiceOptions): Promise<ClassifierService> {
    const log = opts.log ?? (() => {});
    const dir = resolve(opts.enginesDir);
    const indexFile = join(dir, "index.json");
    if (!existsSync(indexFile)) throw new Error(`${indexFile} not found: run \`bun run convert\` first`);
    const index = JSON.parse(readFileSync(indexFile, "utf8")) as EnginesIndex;
    const infos = index.models.map((m) => JSON.parse(readFileSync(join(dir, m.dir, "engine.json"), "utf8")) as EngineInfo);

    const families = new Map<string, FamilyTokenizer>();
    for (const f of index.families) {
      const maxLength = Math.max(...infos.filter((i) => i.tokenizer.family === f.id).map((i) => i.maxLength));
      families.set(f.id, FamilyTokenizer.load(f.id, join(dir, f.dir), maxLength));
    }
    const models: ServedModel[] = [];
    try {
      for (const [i, info] of infos.entries()) {
        const family = families.get(info.tokenizer.family);
        if (!family) throw new Error(`${info.key}: tokenizer family ${info.tokenizer.family} is not in index.json`);
        const workers = Array.from(
          { length: opts.workersPerModel },
          (_, w) =>
            new ModelWorker(`${info.key}#${w}`, {
              modelPath: join(dir, index.models[i].dir, info.onnx.model),
              providers: opts.executionProviders,
              intraOpThreads: opts.intraOpThreads,
              padId: family.padId,
              warmupLengths: [2, Math.min(32, info.maxLength)],
            }),
        );
        models.push({ key: info.key, info, family, maxLength: info.maxLength, workers, batcher: new ModelBatcher(info.key, workers, opts.batch), provider: "", loadMs: 0 });
      }
      // Models load (and warm up) in parallel, each in its own worker.
      await Promise.all(
        models.map(async (m) => {
          const states = await Promise.all(m.workers.map((w) => w.ready));
          m.provider = states[0].provider;
          m.loadMs = Math.max(...states.map((s) => s.loadMs));
          if (states[0].numLabels !== m.info.labels.length) throw new Error(`${m.key}: the model has ${states[0].numLabels} outputs, engine.json ${m.info.labels.length} labels`);
          log(`model ${m.key} ready`, { provider: m.provider, loadMs: Math.round(m.loadMs), family: m.family.id, workers: m.workers.length });
        }),
      );
    } catch (e) {
      for (const m of models) m.workers.forEach((w) => w.terminate());
      throw e;
    }
    const service = new ClassifierService(models, families);
    service.ready = true;
    return service;
  }

  isReady(): boolean {
    return this.ready;
  }

  stats(): Record<string, BatcherStats> {
    return Object.fromEntries(this.models.map((m) => [m.key, m.batcher.stats]));
  }

  /** One answer per text, in order, with every model's key in index order. */
  async classify(texts: string[]): Promise<Answer[]> {
    if (!this.ready) throw new ApiError("not_ready", "the models are not loaded yet");
    const rowsByFamily = new Map<string, RowRef[]>();
    for (const [id, family] of this.families) rowsByFamily.set(id, pack(texts.map((t) => family.encode(t))));
    const perModel = await Promise.all(
      this.models.map((m) =>
        Promise.all(m.batcher.submitMany(rowsByFamily.get(m.family.id)!.map((row) => fitRow(row, m.maxLength, m.family.eosId)))),
      ),
    );
    return texts.map((_, t) => Object.fromEntries(this.models.map((m, i) => [m.key, topLabel(perModel[i][t], m.info.labels)])));
  }

  async stop() {
    this.ready = false;
    for (const m of this.models) m.workers.forEach((w) => w.terminate());
  }
}

/** All of a request's encodings in one SharedArrayBuffer; rows are views into it. */
function pack(encodings: Int32Array[]): RowRef[] {
  const total = encodings.reduce((n, e) => n + e.length, 0);
  const buffer = new SharedArrayBuffer(total * 4);
  const all = new Int32Array(buffer);
  let offset = 0;
  return encodings.map((e) => {
    all.set(e, offset);
    const row = { buffer, offset, length: e.length };
    offset += e.length;
    return row;
  });
}

/** A model whose limit is below its family's gets its own truncated copy; the usual case shares. */
function fitRow(row: RowRef, maxLength: number, eosId: number): RowRef {
  if (row.length <= maxLength) return row;
  const ids = truncate(new Int32Array(row.buffer, row.offset * 4, row.length), maxLength, eosId);
  const buffer = new SharedArrayBuffer(ids.length * 4);
  new Int32Array(buffer).set(ids);
  return { buffer, offset: 0, length: ids.length };
}
