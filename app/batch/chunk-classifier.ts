/**
 * A chunk of texts through the service's own parts, as /process takes them but without HTTP,
 * admission or deadline: tokenized once per family by the tokenizer processes (the chunk split among
 * them), cut to each model's length, fed to each model's batcher shortest first (ModelFeeder), and
 * scored as /process scores (answersOf).
 */
import { batchLimits, type PlanSettings } from "../service/model-plan.ts";
import type { Answer, TopK } from "../service/api.ts";
import { answersOf, type ClassifierService, modelRows, type ServedModel, tokenizeOnce } from "../service/classifier.ts";
import type { RowAnswer } from "../batching/batcher.ts";
import type { PackedRow, RowRef } from "../tokenize/pack.ts";
import { TokenizationFailed } from "../tokenize/tokenizer-pool.ts";
import type { TextInput } from "../tokenize/tokenizer-protocol.ts";
import { WorkerCallFailed, WorkerUnavailable } from "../workers/errors.ts";
import { AloneRuns, isFailure, type RowFailure } from "./alone-runs.ts";
import { ModelFeeder } from "./feeder.ts";

/** Full batches a model keeps queued: the batcher's choice among them is what sorts out the lengths. */
const QUEUED_BATCHES = 4;

/** A text's answer, or why it has none. */
export type ChunkAnswer = { answer: Answer } | { reason: string };

/** Some texts of a chunk (indices into it) and their rows. */
interface Encoded {
  texts: number[];
  rows: Map<string, PackedRow[]>;
}

export interface ChunkScoring {
  topK: TopK;
  rawScores: boolean;
}

/** The texts in `slices` contiguous parts of nearly equal size (at least one text each). */
function split<T>(items: T[], slices: number): T[][] {
  const n = Math.max(1, Math.min(slices, items.length));
  const size = Math.ceil(items.length / n);
  return Array.from({ length: n }, (_, i) => items.slice(i * size, (i + 1) * size)).filter((s) => s.length > 0);
}

/** The families' rows of each slice, joined in order. */
function joinRows(slices: Map<string, PackedRow[]>[]): Map<string, PackedRow[]> {
  const joined = new Map<string, PackedRow[]>();
  for (const slice of slices)
    for (const [family, rows] of slice) joined.set(family, [...(joined.get(family) ?? []), ...rows]);
  return joined;
}

export class ChunkClassifier {
  private readonly feeders: ModelFeeder[];
  private readonly aloneRuns: AloneRuns[];

  constructor(
    private readonly service: ClassifierService,
    readonly models: ServedModel[],
    settings: PlanSettings,
    private readonly scoring: ChunkScoring,
    private readonly signal: AbortSignal,
  ) {
    // Each model's rows wait in its feeder while its rows retried after a crash run alone, and fail with the model.
    this.aloneRuns = models.map(
      (m, i) =>
        new AloneRuns(m.workers, {
          signal,
          onRetriesDone: () => this.feeders[i].resume(),
          onModelFailed: (e) => this.feeders[i].fail(e),
        }),
    );
    this.feeders = models.map((m, i) => {
      const depth = QUEUED_BATCHES * batchLimits(m.provider, m.limits, settings).maxBatchSize * m.workers.length;
      return new ModelFeeder(m.batcher, m.workers, { depth, signal, held: () => this.aloneRuns[i].retryingAfterCrash });
    });
  }

  /**
   * Each text's answer, in order, as /process answers it, or why it has none (its tokenizer process
   * died on it); `onRow` as each text has every model's answer.
   */
  async classify(texts: TextInput[], onRow: () => void): Promise<ChunkAnswer[]> {
    if (texts.length === 0) return [];
    const failed = new Map<number, string>();
    const slices = split(
      texts.map((_, i) => i),
      this.service.tokenizers.stats.processes,
    );
    const encoded = (await Promise.all(slices.map((s) => this.encode(texts, s, failed)))).flat();
    const kept = encoded.flatMap((e) => e.texts);
    const answers = await this.infer(joinRows(encoded.map((e) => e.rows)), kept.length, onRow);
    const byText = new Map(kept.map((t, k) => [t, answers[k]]));
    return texts.map((_, t) => byText.get(t) ?? { reason: `tokenization failed: ${failed.get(t)}` });
  }

  /**
   * The rows of these texts (indices into `texts`), encoded together. A tokenizer process that dies
   * on them (a panicking tokenizer) fails the whole job: halved until the text to blame stands alone,
   * that text is set aside in `failed` and the others are encoded.
   */
  private async encode(texts: TextInput[], at: number[], failed: Map<number, string>): Promise<Encoded[]> {
    try {
      const rows = await tokenizeOnce(
        this.service.tokenizers,
        at.map((t) => texts[t]),
        this.signal,
      );
      return [{ texts: at, rows }];
    } catch (e) {
      if (!(e instanceof TokenizationFailed) || this.signal.aborted) throw e;
      if (at.length === 1) {
        failed.set(at[0], e.message);
        return [];
      }
      const half = Math.ceil(at.length / 2);
      const first = await this.encode(texts, at.slice(0, half), failed);
      return [...first, ...(await this.encode(texts, at.slice(half), failed))];
    }
  }

  /**
   * Each row through every model (fed shortest first), scored. A run that fails fails every row of its
   * batch: each is run again alone (AloneRuns), and a row that fails alone too is set aside with why,
   * the others answered. After a run that failed with an error (the worker keeps running), if every
   * row a model retried fails alone (two or more), the fault is the model's, not the rows': the chunk
   * fails (the job stops; the chunk is redone when it is resumed). After a worker died, the rows it
   * held run alone one at a time once it is back up, and AloneRuns decides whom to blame; rows only
   * sent to it while it was down are fed again.
   */
  private async infer(rows: Map<string, PackedRow[]>, count: number, onRow: () => void): Promise<ChunkAnswer[]> {
    if (count === 0) return [];
    const answered = new Uint8Array(count);
    const perModel = await Promise.all(
      this.models.map(async (m, i) => {
        const mine = modelRows(m, rows);
        const afterError = { rows: 0, failed: [] as RowFailure[] };
        const answers = await Promise.all(
          this.feeders[i].feed(mine).map((answer, t) =>
            answer
              .then((a) => {
                this.aloneRuns[i].answered(mine[t]);
                return a;
              })
              .catch((e) => this.alone(i, mine[t], e, afterError))
              .then((a) => {
                if (++answered[t] === this.models.length) onRow();
                return a;
              }),
          ),
        );
        if (afterError.rows >= 2 && afterError.failed.length === afterError.rows) throw afterError.failed[0].failed;
        return answers;
      }),
    );
    const ok = Array.from({ length: count }, (_, t) => t).filter((t) => perModel.every((a) => !isFailure(a[t])));
    const scored = answersOf(
      this.models,
      perModel.map((answers) => ok.map((t) => answers[t] as RowAnswer)),
      ok.length,
      this.scoring,
    );
    const byRow = new Map(ok.map((t, k) => [t, scored[k]]));
    return Array.from({ length: count }, (_, t): ChunkAnswer => {
      const answer = byRow.get(t);
      if (answer) return { answer };
      const reasons = perModel.map((a) => a[t]).filter(isFailure);
      return { reason: reasons.map((f) => `inference failed: ${f.failed.message}`).join("; ") };
    });
  }

  /** Model i's answer for a row whose batch failed, run alone (AloneRuns) or fed again; those retried after an error are counted in `afterError`. */
  private async alone(
    i: number,
    row: RowRef,
    batchError: unknown,
    afterError: { rows: number; failed: RowFailure[] },
  ): Promise<RowAnswer | RowFailure> {
    if (this.signal.aborted) throw batchError;
    if (batchError instanceof WorkerUnavailable && batchError.held) return this.aloneRuns[i].afterCrash(row);
    // Sent to a worker that was already down (it was not run): fed again, to wait for the restart.
    if (batchError instanceof WorkerUnavailable)
      return this.feeders[i].feed([row])[0].catch((e) => this.alone(i, row, e, afterError));
    if (!(batchError instanceof WorkerCallFailed)) throw batchError;
    afterError.rows++;
    const answer = await this.aloneRuns[i].afterError(row);
    if (isFailure(answer)) afterError.failed.push(answer);
    return answer;
  }

  /** Real tokens over padded tokens in every batch the models ran so far (1: no padding). */
  paddingEfficiency(): number {
    const stats = this.models.map((m) => m.batcher.stats);
    const padded = stats.reduce((n, s) => n + s.paddedTokens, 0);
    return padded === 0 ? 1 : stats.reduce((n, s) => n + s.realTokens, 0) / padded;
  }
}
