import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../testkit/fixtures.ts";
import { type JobIdentity, JobFiles, StateMismatch } from "./job-state.ts";

const job: JobIdentity = {
  input: { path: "/data/in.jsonl", bytes: 10, modifiedMs: 1.5 },
  shard: "0/1",
  chunkRows: 2,
  columns: { id: "id", text: "text", pair: null },
  models: [{ key: "m", sha256: "ab" }],
  scores: { topK: '{"kind":"top"}', raw: false },
  limits: { maxTextChars: 100_000, maxSequenceLength: 512 },
};
const quiet = () => {};

describe("the job's state and part files", () => {
  test("a committed chunk survives a new run of the same job; one written but not listed does not count", () => {
    const output = join(tempDir("job-state"), "out.jsonl");
    const first = new JobFiles(output, job, quiet);
    first.commit(0, ['{"id":"a"}\n', '{"id":"b"}\n'], []);
    // A kill after the part was renamed and before the state listed it: that chunk is done again.
    writeFileSync(first.answersPart(1), '{"id":"c"}\n');
    const resumed = new JobFiles(output, job, quiet);
    expect(resumed.committed).toEqual([{ chunk: 0, rows: 2, errors: 0 }]);
    expect(resumed.isCommitted(0)).toBe(true);
    expect(resumed.isCommitted(1)).toBe(false);
    expect(readFileSync(resumed.answersPart(0), "utf8")).toBe('{"id":"a"}\n{"id":"b"}\n');
    resumed.commit(1, ['{"id":"c"}\n'], ['{"row":3}\n']);
    expect(new JobFiles(output, job, quiet).committed).toEqual([
      { chunk: 0, rows: 2, errors: 0 },
      { chunk: 1, rows: 2, errors: 1 },
    ]);
  });

  test("another job's state is refused, naming what differs; the files stay as they were", () => {
    const output = join(tempDir("job-state"), "out.parquet");
    new JobFiles(output, job, quiet).commit(0, ['{"id":"a"}\n'], []);
    const state = readFileSync(`${output}.state.json`, "utf8");
    const other = { ...job, shard: "1/2", chunkRows: 3 };
    expect(() => new JobFiles(output, other, quiet)).toThrow(StateMismatch);
    expect(() => new JobFiles(output, other, quiet)).toThrow("(shard, chunkRows differ)");
    expect(readFileSync(`${output}.state.json`, "utf8")).toBe(state);
  });

  test("a state written before a field was part of the identity (no limits) is another job's, naming the field", () => {
    const output = join(tempDir("job-state"), "old.jsonl");
    const { limits: _, ...older } = job;
    new JobFiles(output, older as JobIdentity, quiet).commit(0, ['{"id":"a"}\n'], []);
    expect(() => new JobFiles(output, job, quiet)).toThrow("(limits differ)");
  });

  test("completed: the state says so and the part files go", () => {
    const output = join(tempDir("job-state"), "out.csv");
    const files = new JobFiles(output, job, quiet);
    files.commit(0, [], []);
    files.completed();
    expect(existsSync(files.partsDir)).toBe(false);
    expect(new JobFiles(output, job, quiet).complete).toBe(true);
  });
});
