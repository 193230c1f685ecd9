import { join } from "node:path";
import { waitFor } from "./wait.ts";

export type LogLine = Record<string, unknown>;

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

/** `bun run start`'s entry as a child process, on a free loopback port unless `env` says otherwise. */
export function launchService(env: Record<string, string>, stderr: "inherit" | "pipe") {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "..", "app", "index.ts")], {
    env: { ...process.env, AUTO_CONVERT: "false", PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr,
  });
  const lines: LogLine[] = [];
  const stdoutRead = readJsonLines(proc.stdout, lines);
  return { proc, lines, stdoutRead };
}

/** The service as a child process; resolves once it logs "ready", with its URL and parsed log lines. */
export async function spawnService(env: Record<string, string>) {
  const { proc, lines } = launchService(env, "inherit");
  await waitFor(
    () => lines.some((l) => l.message === "ready") || proc.exitCode !== null,
    "the service to be ready",
    120_000,
  );
  if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode} before it was ready`);
  const port = lines.find((l) => l.message === "listening")!.port as number;
  return { proc, url: `http://127.0.0.1:${port}`, lines };
}

/**
 * The service as a child process expected to stop by itself (a start that fails): its exit code,
 * every stdout line (each must be JSON) and its stderr. Killed after `timeoutMs` if it keeps running.
 */
export async function runServiceToExit(env: Record<string, string>, timeoutMs = 60_000) {
  const { proc, lines, stdoutRead } = launchService(env, "pipe");
  const stderr = new Response(proc.stderr).text();
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  await stdoutRead;
  return { code, signalled: proc.signalCode, lines, stderr: await stderr };
}
