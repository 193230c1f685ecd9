/**
 * A study (not part of `bun run bench`); its result: bench/results/2026-12-03-architectures.md.
 * What each architecture convert builds costs on this machine, at full size with random weights:
 *   bun bench/studies/architectures.ts [--seconds 5] [--archs bert,deberta,modernbert,electra,xlmr]
 * Per architecture: a random checkpoint of the published base model's dimensions is written, then
 * converted by `bun run convert` in a child process (wall time and peak resident memory, from
 * /proc's VmHWM), then its model.onnx runs in onnxruntime with one intra-op thread on batches of 8
 * rows of 24, 128 and 512 tokens for `seconds` each: rows per second, and GFLOP/s by the FLOP count
 * of bench/lib/flops.ts (the roofline's).
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { FULL_SIZE, type RandomArchitecture, writeRandomCheckpoint } from "../../convert/random/random-checkpoint.ts";
import { modelFeeds } from "../../lib/onnx/feeds.ts";
import { readModelRecord } from "../../lib/store/index.ts";
import { addTokenizer, tempDir } from "../../testkit/fixtures.ts";
import { descendantsOf } from "../../testkit/proc.ts";
import { forwardFlops, shapeFromRecord } from "../lib/flops.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    archs: { type: "string", default: "bert,deberta,modernbert,electra" },
  },
});
const seconds = Number(values.seconds);
const archs = (values.archs as string).split(",") as RandomArchitecture[];
const LENGTHS = [24, 128, 512];
const ROWS = 8;

/** Runs `bun run convert` for one checkpoint; its wall time and the child's peak resident memory. */
async function convert(src: string, out: string) {
  const started = performance.now();
  const proc = Bun.spawn(["bun", "run", "convert", "--model", `m=${src}`, "--out", out], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
  let peakKb = 0;
  const poll = setInterval(() => {
    // `bun run` starts the converter as its child: the largest VmHWM of the process tree is the converter's.
    for (const pid of [proc.pid, ...descendantsOf(proc.pid)]) peakKb = Math.max(peakKb, vmHwmKb(pid));
  }, 50);
  const code = await proc.exited;
  clearInterval(poll);
  if (code !== 0) throw new Error(`convert failed: ${await new Response(proc.stderr).text()}`);
  return { seconds: (performance.now() - started) / 1000, peakMiB: peakKb / 1024 };
}

function vmHwmKb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Rows per second on batches of ROWS rows of `length` tokens, one intra-op thread, for `seconds`. */
async function rowsPerSecond(session: ort.InferenceSession, spec: Parameters<typeof modelFeeds>[1], length: number) {
  const row = [0, ...Array.from({ length: length - 2 }, (_, i) => 100 + (i % 500)), 2];
  const feeds = modelFeeds(
    Array.from({ length: ROWS }, () => row),
    spec,
  );
  await session.run(feeds); // warm
  let rows = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await session.run(feeds);
    rows += ROWS;
  }
  return rows / ((performance.now() - started) / 1000);
}

const results: Record<string, unknown>[] = [];
for (const arch of archs) {
  const root = tempDir(`arch-${arch}`);
  const src = join(root, "src");
  writeRandomCheckpoint(src, { ...FULL_SIZE[arch], numLabels: 3 });
  addTokenizer(src, arch);
  const out = join(root, "engines");
  const converted = await convert(src, out);
  rmSync(src, { recursive: true, force: true });
  const record = readModelRecord(join(out, "m"));
  if (!record) throw new Error(`${arch}: no engine.json after convert`);
  const shape = shapeFromRecord(record);
  const session = await ort.InferenceSession.create(join(out, "m", record.onnx.model), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const spec = { inputs: record.onnx.inputs, inputType: record.onnx.inputType, padId: record.specialTokens.pad };
  const speeds: Record<number, { rowsPerSecond: number; gflops: number }> = {};
  for (const length of LENGTHS.filter((l) => l <= record.maxLength)) {
    const rps = await rowsPerSecond(session, spec, length);
    speeds[length] = { rowsPerSecond: rps, gflops: ((forwardFlops(shape, ROWS, length) / ROWS) * rps) / 1e9 };
  }
  await session.release();
  rmSync(root, { recursive: true, force: true });
  const line = { arch, architecture: record.architecture, convert: converted, speeds };
  console.log(JSON.stringify(line));
  results.push(line);
}
