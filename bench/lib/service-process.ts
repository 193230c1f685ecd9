/** The service (`bun app/index.ts`) as a child process of a benchmark: started on a port, ready, stopped. */
import { join } from "node:path";
import { waitFor } from "../../testkit/wait.ts";

export interface ServiceProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the service over `engines` with `env` on top of quiet defaults, and waits until it is ready. */
export async function startServiceProcess(
  engines: string,
  port: number,
  env: Record<string, string> = {},
  entry = ["bun", "app/index.ts"],
): Promise<ServiceProcess> {
  const proc = Bun.spawn(entry, {
    cwd: join(import.meta.dir, "..", ".."),
    env: {
      ...process.env,
      ENGINES_DIR: engines,
      PORT: String(port),
      HOST: "127.0.0.1",
      AUTO_CONVERT: "false",
      LOG_SAMPLE: "0",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  const ready = async () => {
    if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode} before it was ready`);
    return (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200;
  };
  await waitFor(ready, "the service to be ready", 600_000);
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
