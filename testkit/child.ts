import { join } from "node:path";
import { waitFor } from "./wait.ts";

/** `bun run start`'s entry as a child process; resolves once it logs "ready", with its URL and parsed log lines. */
export async function spawnService(env: Record<string, string>) {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "..", "app", "index.ts")], {
    env: { ...process.env, AUTO_CONVERT: "false", PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  const lines: Record<string, unknown>[] = [];
  (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk);
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    }
  })();
  await waitFor(
    () => lines.some((l) => l.message === "ready") || proc.exitCode !== null,
    "the service to be ready",
    120_000,
  );
  if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode} before it was ready`);
  const port = lines.find((l) => l.message === "listening")!.port as number;
  return { proc, url: `http://127.0.0.1:${port}`, lines };
}
