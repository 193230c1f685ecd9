/**
 * What makes a run resumable with each row exactly once: the output is written in chunks, each chunk's
 * part files are written beside, flushed and renamed into place, and only then is the chunk added to
 * the state file (itself replaced by a rename). A kill at any point leaves every chunk either listed,
 * with whole part files, or not listed, and redone by the next run; the output is assembled from the
 * listed parts alone. The state also holds what the job is (input, shard, chunking, models, scoring),
 * so a run with other arguments cannot continue it.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { LogFn } from "../log.ts";

/** Everything that decides which rows a chunk holds and what is written for them. */
export interface JobIdentity {
  input: { path: string; bytes: number; modifiedMs: number };
  shard: string;
  chunkRows: number;
  columns: { id: string; text: string; pair: string | null };
  models: { key: string; sha256: string }[];
  scores: { topK: string; raw: boolean };
  /** The settings that decide which texts are refused and where rows are cut (MAX_TEXT_CHARS, MAX_SEQUENCE_LENGTH). */
  limits: { maxTextChars: number; maxSequenceLength: number };
}

export interface CommittedChunk {
  chunk: number;
  /** The shard's rows in it: classified, and sent to the errors file. */
  rows: number;
  errors: number;
}

export interface JobState {
  version: 1;
  job: JobIdentity;
  committed: CommittedChunk[];
  /** Set once the output and errors file are written from every chunk. */
  complete: boolean;
}

/** A state file beside the output that another job wrote (exit 2: the run does not start). */
export class StateMismatch extends Error {}

/** Writes a file whole or not at all: beside it, flushed to disk, then renamed over it. */
function writeAtomically(path: string, text: string) {
  const beside = `${path}.writing`;
  const fd = openSync(beside, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(beside, path);
}

/** The fields of two identities that differ, named: one that only one of them has (an older state's) differs too. */
function differences(a: JobIdentity, b: JobIdentity): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as (keyof JobIdentity)[];
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The state file and the part files of one output. */
export class JobFiles {
  readonly statePath: string;
  readonly partsDir: string;
  private state: JobState;

  constructor(
    outputPath: string,
    job: JobIdentity,
    private readonly log: LogFn,
  ) {
    this.statePath = `${outputPath}.state.json`;
    this.partsDir = `${outputPath}.parts`;
    this.state = this.resume(job) ?? { version: 1, job, committed: [], complete: false };
    if (!this.state.complete) mkdirSync(this.partsDir, { recursive: true });
    if (!existsSync(this.statePath)) writeAtomically(this.statePath, JSON.stringify(this.state));
  }

  /** The state a previous run left for this same job, or null to start afresh. */
  private resume(job: JobIdentity): JobState | null {
    if (!existsSync(this.statePath)) return null;
    const found = JSON.parse(readFileSync(this.statePath, "utf8")) as JobState;
    const changed = found.version === 1 ? differences(found.job, job) : ["version"];
    if (changed.length > 0)
      throw new StateMismatch(
        `${this.statePath} belongs to another job (${changed.join(", ")} differ): run with the same arguments ` +
          `and input to continue it, or remove it and ${this.partsDir} to start over`,
      );
    this.log("resuming", { committedChunks: found.committed.length, complete: found.complete });
    return found;
  }

  get committed(): readonly CommittedChunk[] {
    return this.state.committed;
  }

  get complete(): boolean {
    return this.state.complete;
  }

  isCommitted(chunk: number): boolean {
    return this.state.committed.some((c) => c.chunk === chunk);
  }

  answersPart(chunk: number): string {
    return join(this.partsDir, `chunk-${String(chunk).padStart(7, "0")}.jsonl`);
  }

  errorsPart(chunk: number): string {
    return join(this.partsDir, `chunk-${String(chunk).padStart(7, "0")}.errors.jsonl`);
  }

  /** The chunk's answer and error lines made durable, then the chunk listed: exactly once, whenever a kill comes. */
  commit(chunk: number, answers: string[], errors: string[]) {
    writeAtomically(this.answersPart(chunk), answers.join(""));
    writeAtomically(this.errorsPart(chunk), errors.join(""));
    const committed = [...this.state.committed, { chunk, rows: answers.length + errors.length, errors: errors.length }];
    committed.sort((a, b) => a.chunk - b.chunk);
    this.state = { ...this.state, committed };
    writeAtomically(this.statePath, JSON.stringify(this.state));
  }

  /** Every chunk is in the output: the state says so (a later run with the same arguments does nothing) and the parts go. */
  completed() {
    this.state = { ...this.state, complete: true };
    writeAtomically(this.statePath, JSON.stringify(this.state));
    rmSync(this.partsDir, { recursive: true, force: true });
  }
}
