import { loadConfig } from "../app/config.ts";
import { type RunningService, type ServiceSeams, startService } from "../app/main.ts";

export type TestServer = RunningService;

/**
 * The real service (app/main.ts, as `bun run start` assembles it) on a real loopback port, over
 * converted engines, with real inference workers. `seams`: fault hooks, host facts, the GPU
 * stand-in, the restart policy. Quiet unless `env` sets LOG_LEVEL.
 */
export async function startTestServer(
  enginesDir: string,
  env: Record<string, string> = {},
  seams: ServiceSeams = {},
): Promise<TestServer> {
  // The CPU's own batch limits raised: the tests exercise batching, which the CPU defaults keep small.
  const config = loadConfig({
    ENGINES_DIR: enginesDir,
    INTRA_OP_THREADS: "1",
    CPU_MAX_BATCH_SIZE: "1024",
    CPU_MAX_BATCH_TOKENS: "16384",
    MAX_BATCH_TOKENS: "16384",
    LOG_LEVEL: "silent",
    ...env,
    HOST: "127.0.0.1",
    PORT: "0",
  });
  return startService(config, seams);
}

export const postProcess = (
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
  signal?: AbortSignal,
) => fetch(`${url}/process`, { method: "POST", body, headers, signal });
