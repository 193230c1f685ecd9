import { loadConfig, type Config } from "../app/config.ts";
import { ServiceMetrics } from "../app/metrics.ts";
import { createApp, listenOptions } from "../app/server.ts";
import { ClassifierService, type ServiceOptions } from "../app/service/classifier.ts";

export interface TestServer {
  url: string;
  service: ClassifierService;
  stop(): Promise<void>;
}

/** The real app on a real loopback port, over converted engines, with real inference workers. */
export async function startTestServer(
  enginesDir: string,
  env: Record<string, string> = {},
  extra: Pick<ServiceOptions, "faultHooks" | "restartPolicy" | "hostFacts" | "gpuStandInLoads"> = {},
): Promise<TestServer> {
  // The CPU's own batch limits raised: the tests exercise batching, which the CPU defaults keep small.
  const config: Config = loadConfig({
    ENGINES_DIR: enginesDir,
    INTRA_OP_THREADS: "1",
    CPU_MAX_BATCH_SIZE: "1024",
    CPU_MAX_BATCH_TOKENS: "16384",
    MAX_BATCH_TOKENS: "16384",
    ...env,
  });
  const service = await ClassifierService.start({ ...config, ...extra });
  const metrics = new ServiceMetrics();
  metrics.attach(service);
  const app = createApp({ config, service: () => service, metrics });
  app.listen(listenOptions({ ...config, host: "127.0.0.1", port: 0 }));
  return {
    url: `http://127.0.0.1:${app.server!.port}`,
    service,
    stop: async () => {
      await app.stop();
      await service.stop();
    },
  };
}

export const postProcess = (
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
) => fetch(`${url}/process`, { method: "POST", body, headers });
