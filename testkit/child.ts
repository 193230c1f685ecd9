/**
 * The service as a child process, started one way for tests and benchmarks: `bun app/index.ts` (or
 * another entry, e.g. bench/sim/serve.ts) from the repo root, on loopback, never converting.
 */
import type { Subprocess } from "bun";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

export type LogLine = Record<string, unknown>;

const ROOT = join(import.meta.dir, "..");
// The running bun, as the service itself starts its children (not whichever `bun` PATH finds).
const APP = [process.execPath, "app/index.ts"];

/** Parses a stream of JSON lines into `into` as they come; rejects on a line that is not JSON. */
async function readJsonLines(stream: ReadableStream<Uint8Array>, into: LogLine[]) {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const p of parts) if (p.trim()) into.push(JSON.parse(p));
  }
  if (buffered.trim()) into.push(JSON.parse(buffered));
}

interface Launch {
  /** On top of the process's own: a free port unless PORT is given. */
  env: Record<string, string>;
  entry?: string[];
  /** "read": every stdout line parsed as a JSON log line (the test fails on one that is not). */
  stdout: "read" | "ignore";
  stderr: "inherit" | "pipe";
}

/** Spawns the service; `lines` fills with its log lines as they come (stdout "read"). */
function launch({ env, entry = APP, stdout, stderr }: Launch) {
  const proc = Bun.spawn(entry, {
    cwd: ROOT,
    env: { ...process.env, AUTO_CONVERT: "false", PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: stdout === "read" ? "pipe" : "ignore",
    stderr,
  });
  const lines: LogLine[] = [];
  const stdoutRead = stdout === "read" ? readJsonLines(proc.stdout as ReadableStream<Uint8Array>, lines) : undefined;
  return { proc, lines, stdoutRead };
}

export interface ServiceProcess {
  proc: Subprocess;
  url: string;
  pid: number;
  /** Its parsed log lines (empty when started by startServiceProcess, which does not read them). */
  lines: LogLine[];
  /** SIGTERM, then the exit: the service drains first. */
  stop(): Promise<void>;
}

function child(proc: Subprocess, url: string, lines: LogLine[]): ServiceProcess {
  return {
    proc,
    url,
    pid: proc.pid,
    lines,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

function exitedEarly(proc: Subprocess): Error {
  return new Error(`the service exited with ${proc.exitCode} before it was ready`);
}

/** The service for a test on a free port, resolved once it logs `until` ("ready", or "listening" while its models load). */
async function spawnUntil(env: Record<string, string>, until: "ready" | "listening"): Promise<ServiceProcess> {
  const { proc, lines } = launch({ env, stdout: "read", stderr: "inherit" });
  await waitFor(
    () => lines.some((l) => l.message === until) || proc.exitCode !== null,
    `the service to log "${until}"`,
    120_000,
  );
  if (proc.exitCode !== null) throw exitedEarly(proc);
  const port = lines.find((l) => l.message === "listening")?.port;
  if (typeof port !== "number") throw new Error("the service logged no listening port");
  return child(proc, `http://127.0.0.1:${port}`, lines);
}

/** The service for a test: on a free port, resolves once it logs "ready", with its URL and parsed log lines. */
export const spawnService = (env: Record<string, string>) => spawnUntil(env, "ready");

/** The service for a test, resolved as soon as it listens (its models may still be loading), with its URL and parsed log lines. */
export const spawnListeningService = (env: Record<string, string>) => spawnUntil(env, "listening");

/**
 * The service for a benchmark, over `engines` on `port`, its logs quiet (warnings only, no request
 * lines): resolves once /health/ready answers 200. `entry` runs another assembly (bench/sim/serve.ts).
 */
export async function startServiceProcess(
  engines: string,
  port: number,
  env: Record<string, string> = {},
  entry = APP,
): Promise<ServiceProcess> {
  const { proc } = launch({
    env: { ENGINES_DIR: engines, PORT: String(port), LOG_SAMPLE: "0", LOG_LEVEL: "warn", ...env },
    entry,
    stdout: "ignore",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  const ready = async () => {
    if (proc.exitCode !== null) throw exitedEarly(proc);
    return (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200;
  };
  await waitFor(ready, "the service to be ready", 600_000);
  return child(proc, url, []);
}

/**
 * The service as a child process expected to stop by itself (a start that fails): its exit code,
 * every stdout line (each must be JSON) and its stderr. Killed after `timeoutMs` if it keeps running.
 */
export async function runServiceToExit(env: Record<string, string>, timeoutMs = 60_000) {
  const { proc, lines, stdoutRead } = launch({ env, stdout: "read", stderr: "pipe" });
  const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  await stdoutRead;
  return { code, signalled: proc.signalCode, lines, stderr: await stderr };
}
