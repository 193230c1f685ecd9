/**
 * The Dockerfile and the Helm chart against the app they ship: parsed, validated, and checked to
 * agree with app/config.ts (names and values of settings, port), the app's routes (probe and
 * HEALTHCHECK paths, asked of a real server), convert's CLI (the init container's arguments) and the
 * pinned GPU stack. `helm` and `hadolint` are not installable here (neither npm nor Debian bookworm
 * carries them); dockerfile-utils validates the Dockerfile, and the chart's Go templates are checked
 * for balance and for references to values that exist.
 */
import { parseBatchArgs } from "../app/batch/args.ts";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, cpSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser, type Dockerfile } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { parse as parseYaml } from "yaml";
import { loadConfig, SETTING_LIST } from "../app/config.ts";
import { onnxruntimeNativeDir } from "../lib/gpu/probe.ts";
import { parseCli } from "../convert/cli.ts";
import { convertModels } from "../convert/pipeline.ts";
import { GPU_STACK } from "../lib/gpu/stack.ts";
import { tempDir, tinyManifestSources } from "../testkit/fixtures.ts";
import { coalesce, renderChart } from "../testkit/helm.ts";
import { startTestServer, type TestServer } from "../testkit/server.ts";

setDefaultTimeout(60_000);

const ROOT = join(import.meta.dir, "..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const pkg = JSON.parse(read("package.json"));

/** Every environment variable the app reads: its settings table. */
const CONFIG_VARS = new Set(SETTING_LIST.map((s) => s.name));
/** Set by the images for the runtime, not the app: the NVIDIA container toolkit and Bun read these. */
const RUNTIME_VARS = new Set([
  "NVIDIA_VISIBLE_DEVICES",
  "NVIDIA_DRIVER_CAPABILITIES",
  "BUN_RUNTIME_TRANSPILER_CACHE_PATH",
  "NODE_ENV",
]);

let server: TestServer;
beforeAll(async () => {
  const engines = tempDir("deploy-engines");
  await convertModels(tinyManifestSources(), { outDir: engines });
  server = await startTestServer(engines);
});
afterAll(() => server?.stop());

describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const df: Dockerfile = DockerfileParser.parse(text);
  const stages = df.getFROMs().map((f) => f.getBuildStage());
  const args = Object.fromEntries(
    df.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue()]),
  );
  const stageOf = (name: string) => {
    const froms = df.getFROMs();
    const i = stages.indexOf(name);
    const start = froms[i].getRange().start.line;
    const end = i + 1 < froms.length ? froms[i + 1].getRange().start.line : Infinity;
    return df.getInstructions().filter((ins) => ins.getRange().start.line >= start && ins.getRange().start.line < end);
  };
  const envOf = (name: string) =>
    Object.fromEntries(
      stageOf(name)
        .filter((i) => i.getKeyword() === "ENV")
        .flatMap((i) =>
          (i as unknown as { getProperties(): { getName(): string; getValue(): string }[] })
            .getProperties()
            .map((p) => [p.getName(), p.getValue()]),
        ),
    );

  test("validates with no diagnostics (dockerfile-utils)", () => {
    expect(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  test("pins the GPU stack convert uses, and the bun of package.json", () => {
    expect(args).toMatchObject({
      TENSORRT_IMAGE: GPU_STACK.tensorrtImage,
      TENSORRT_VERSION: GPU_STACK.tensorrtVersion,
      CUDA_IMAGE: GPU_STACK.cudaImage,
      CUDA_SUFFIX: GPU_STACK.cudaSuffix,
      BUN_VERSION: pkg.packageManager.split("@")[1],
    });
    for (const f of df.getFROMs()) expect(f.getImageTag() ?? f.getImageName()).not.toBe("latest");
  });

  test("GPU and CPU variants, engines mounted or baked, an engine builder; the service is the default (last) stage", () => {
    expect(stages).toEqual(
      expect.arrayContaining([
        "deps-gpu",
        "runtime-gpu",
        "runtime-cpu",
        "app",
        "engine-builder",
        "engines-mount",
        "engines-bake",
      ]),
    );
    expect(args.VARIANT).toBe("gpu");
    expect(args.ENGINES).toBe("mount");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile build argument, read as the Dockerfile spells it
    expect(df.getFROMs().at(-1)!.getImage()).toBe("engines-${ENGINES}");
    expect(
      df
        .getFROMs()
        .find((f) => f.getBuildStage() === "app")!
        .getImage(),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile build argument, read as the Dockerfile spells it
    ).toBe("runtime-${VARIANT}");
    // GPU dependencies: onnxruntime-node's CUDA 12 providers; CPU: none downloaded.
    expect(
      stageOf("deps-gpu")
        .map((i) => i.getTextContent())
        .join("\n"),
    ).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 bun script\/install\.js/);
    expect(
      stageOf("deps-cpu")
        .map((i) => i.getTextContent())
        .join("\n"),
    ).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip bun install --frozen-lockfile --production/);
  });

  test("the GPU runtime installs exactly the pinned TensorRT and fails the build when a provider library lacks a dependency", () => {
    const runs = stageOf("runtime-gpu")
      .filter((i) => i.getKeyword() === "RUN")
      .map((i) => i.getTextContent());
    for (const pkgName of ["libnvinfer10", "libnvinfer-plugin10", "libnvonnxparsers10"])
      expect(runs.join("\n")).toContain(`"${pkgName}=\${TENSORRT_VERSION}-1+\${CUDA_SUFFIX}"`);
    expect(runs.join("\n")).toMatch(
      /check-native-libs\.sh node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\s*\\\s*\n\s*libonnxruntime_providers_shared\.so libonnxruntime_providers_cuda\.so libonnxruntime_providers_tensorrt\.so/,
    );
  });

  test("non-root, port 8000 as the app's default, settings the app accepts, FP32 only", () => {
    const app = stageOf("app");
    const user = app.find((i) => i.getKeyword() === "USER")!.getArgumentsContent()!;
    expect(user).toBe("10001:10001");
    const expose = app.find((i) => i.getKeyword() === "EXPOSE")!.getArgumentsContent();
    expect(Number(expose)).toBe(loadConfig({}).port);
    const env = { ...envOf("runtime-gpu"), ...envOf("app") };
    for (const name of Object.keys(env)) expect(CONFIG_VARS.has(name) || RUNTIME_VARS.has(name)).toBe(true);
    expect(() => loadConfig(env)).not.toThrow();
    expect(loadConfig(env)).toMatchObject({
      port: 8000,
      enginesDir: "/engines",
      autoConvert: false,
      executionProviders: ["tensorrt", "cuda", "cpu"],
    });
    expect(loadConfig({ ...envOf("runtime-cpu"), ...envOf("app") }).executionProviders).toEqual(["cpu"]);
    expect(text).not.toMatch(/--(fp16|int8|best|bf16|fp8)\b/);
  });

  test("HEALTHCHECK runs docker/healthcheck.ts: exit 0 against a ready server, 1 when nothing answers", async () => {
    const hc = df.getHEALTHCHECKs()[0].getArgumentsContent()!;
    expect(hc).toMatch(/CMD \["bun", "docker\/healthcheck\.ts"\]/);
    const run = (port: string) =>
      Bun.spawn(["bun", "docker/healthcheck.ts"], { cwd: ROOT, env: { ...process.env, PORT: port } }).exited;
    expect(await run(new URL(server.url).port)).toBe(0);
    expect(await run("1")).toBe(1);
  });

  test("/docs's Scalar bundle reaches the image as one file, where docs.ts looks for it, not as a 300 MB dependency", () => {
    expect(pkg.dependencies["@scalar/api-reference"]).toBeUndefined();
    expect(pkg.devDependencies["@scalar/api-reference"]).toMatch(/^\d+\.\d+\.\d+$/);
    const bundle = stageOf("docs-bundle")
      .map((i) => i.getTextContent())
      .join("\n");
    expect(bundle).toContain("node_modules/@scalar/api-reference/dist/browser/standalone.js /scalar/standalone.js");
    const copies = stageOf("app")
      .filter((i) => i.getKeyword() === "COPY")
      .map((i) => i.getTextContent());
    expect(copies).toContain("COPY --from=docs-bundle /scalar ./vendor/scalar");
    expect(read("app/http/routes/docs.ts")).toContain('"vendor", "scalar"');
  });

  test("the dependency stage keeps only this platform's tokenizers binding and proves it loads (the step, run here)", async () => {
    const step = stageOf("deps-cpu").find(
      (i) => i.getKeyword() === "RUN" && i.getTextContent().includes("node_modules/tokenizers"),
    );
    expect(step).toBeDefined();
    // The RUN's shell text, joined as the builder's /bin/sh sees it, run in a copy of node_modules/tokenizers.
    const command = step!
      .getTextContent()
      .replace(/^RUN\s+/, "")
      .replace(/\\\n/g, " ");
    const dir = tempDir("deps");
    cpSync(join(ROOT, "node_modules", "tokenizers"), join(dir, "node_modules", "tokenizers"), { recursive: true });
    const before = readdirSync(join(dir, "node_modules", "tokenizers")).filter((f) => f.endsWith(".node"));
    const run = Bun.spawnSync(["sh", "-c", command], { cwd: dir, stderr: "pipe" });
    expect([run.exitCode, run.stderr.toString()]).toEqual([0, ""]);
    const after = readdirSync(join(dir, "node_modules", "tokenizers")).filter((f) => f.endsWith(".node"));
    expect(before.length).toBeGreaterThan(10);
    expect(after).toEqual([
      process.arch === "arm64" ? "tokenizers.linux-arm64-gnu.node" : "tokenizers.linux-x64-gnu.node",
    ]);
  });

  test("check-native-libs.sh passes on onnxruntime-node's CPU libraries, and fails on a missing file or an unresolved NEEDED library", async () => {
    const script = join(ROOT, "docker", "check-native-libs.sh");
    const run = async (...a: string[]) => {
      const p = Bun.spawn([script, ...a], { stdout: "pipe", stderr: "pipe" });
      return { code: await p.exited, err: await new Response(p.stderr).text() };
    };
    const native = onnxruntimeNativeDir();
    expect((await run(native)).code).toBe(0);
    expect(await run(native, "libonnxruntime_providers_tensorrt.so")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/missing: .*libonnxruntime_providers_tensorrt\.so/),
    });
    // The binding alone: it needs libonnxruntime.so.1, which is neither beside it nor known to the loader.
    const lonely = tempDir("native");
    copyFileSync(join(native, "onnxruntime_binding.node"), join(lonely, "onnxruntime_binding.node"));
    expect(await run(lonely)).toMatchObject({
      code: 1,
      err: expect.stringMatching(/onnxruntime_binding\.node needs libonnxruntime\.so\.1: not found/),
    });
  });
});

describe("Helm chart", () => {
  type Tree = Record<string, unknown>;
  const values = parseYaml(read("helm/values.yaml")) as Tree;
  const chart = parseYaml(read("helm/Chart.yaml")) as Tree;
  const overlays = Object.fromEntries(
    readdirSync(join(ROOT, "helm", "envs"))
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => [f, parseYaml(read(`helm/envs/${f}`)) as Tree]),
  );
  const templates = Object.fromEntries(
    readdirSync(join(ROOT, "helm", "templates")).map((f) => [f, read(`helm/templates/${f}`)]),
  );
  const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);
  /** Helm's coalescing of an overlay onto the defaults: maps merge, everything else replaces. */
  const merge = (a: Tree, b: Tree): Tree =>
    Object.fromEntries(
      [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
        k,
        isTree(a[k]) && isTree(b[k]) ? merge(a[k] as Tree, b[k] as Tree) : k in b ? b[k] : a[k],
      ]),
    );
  const get = (t: Tree, path: string): unknown =>
    path.split(".").reduce<unknown>((v, k) => (isTree(v) ? v[k] : undefined), t);
  const cases: [string, Tree][] = [
    ["values.yaml", values],
    ...Object.entries(overlays).map(([f, o]) => [`envs/${f}`, merge(values, o)] as [string, Tree]),
  ];

  test("Chart.yaml: apiVersion v2, appVersion = package.json's version; overlays exist in helm/envs", () => {
    expect(chart).toMatchObject({ apiVersion: "v2", appVersion: pkg.version });
    expect(Object.keys(overlays).sort()).toEqual(["cpu.yaml", "dev.yaml", "g4dn.yaml"]);
  });

  test("every key an overlay sets exists in values.yaml (a misspelt key would be ignored silently)", () => {
    const paths = (t: Tree, prefix = ""): string[] =>
      Object.entries(t).flatMap(([k, v]) =>
        isTree(v) &&
        Object.keys(v).length &&
        !["env", "nodeSelector", "podAnnotations", "limits", "requests"].includes(k)
          ? paths(v, `${prefix}${k}.`)
          : [`${prefix}${k}`],
      );
    for (const [file, overlay] of Object.entries(overlays))
      for (const p of paths(overlay))
        expect({ file, path: p, known: get(values, p) !== undefined || p.startsWith("env.") }).toEqual({
          file,
          path: p,
          known: true,
        });
  });

  test("templates: balanced actions and blocks, and every .Values path they read is defined", () => {
    for (const [file, t] of Object.entries(templates)) {
      // Every action closes before the next one opens: the delimiters alternate {{ }} {{ }} ….
      const delimiters = (t.match(/{{|}}/g) ?? []).join("");
      expect({ file, balanced: /^({{}})+$/.test(delimiters) }).toEqual({ file, balanced: true });
      const openers = (t.match(/{{-?\s*(if|range|with|define)\b/g) ?? []).length;
      const ends = (t.match(/{{-?\s*end\s*-?}}/g) ?? []).length;
      expect({ file, openers }).toEqual({ file, openers: ends });
      for (const [, path] of t.matchAll(/\.Values\.([\w.]+)/g))
        expect({ file, path, defined: get(values, path.replace(/\.$/, "")) !== undefined }).toEqual({
          file,
          path,
          defined: true,
        });
    }
  });

  for (const [name, v] of cases) {
    test(`${name}: env names and values are the app's, on the port the image exposes`, () => {
      const env = v.env as Record<string, string>;
      for (const k of Object.keys(env)) expect({ k, known: CONFIG_VARS.has(k) }).toEqual({ k, known: true });
      const config = loadConfig({ ...env, PORT: String(v.containerPort) });
      expect(config.port).toBe(8000);
      expect(get(v, "service.port")).toBe(80);
      expect(config.enginesDir).toBe("/engines");
    });

    test(`${name}: probes on the app's health routes, startup long enough for five models, grace covering preStop + drain`, async () => {
      const probes = v.probes as Record<string, { path: string; periodSeconds: number; failureThreshold: number }>;
      expect([probes.startup.path, probes.readiness.path, probes.liveness.path]).toEqual([
        "/health/ready",
        "/health/ready",
        "/health/live",
      ]);
      for (const p of Object.values(probes)) expect((await fetch(`${server.url}${p.path}`)).status).toBe(200);
      expect(probes.startup.periodSeconds * probes.startup.failureThreshold).toBeGreaterThanOrEqual(600);
      const drainS = loadConfig((v.env as Record<string, string>) ?? {}).drainTimeoutMs / 1000;
      expect(Number(get(v, "termination.gracePeriodSeconds"))).toBeGreaterThanOrEqual(
        Number(get(v, "termination.preStopSeconds")) + drainS + 5,
      );
    });

    test(`${name}: non-root as the image's user, read-only root, no privilege escalation; sized for a g4dn.2xlarge`, () => {
      expect(get(v, "podSecurityContext")).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 });
      expect(get(v, "securityContext")).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      const gib = (s: string) => Number(s.replace(/Gi$/, ""));
      expect(Number(get(v, "resources.requests.cpu"))).toBeLessThanOrEqual(7.5);
      expect(gib(String(get(v, "resources.limits.memory")))).toBeLessThanOrEqual(30);
      expect(gib(String(get(v, "resources.requests.memory")))).toBeGreaterThanOrEqual(8);
      if (get(v, "gpu.enabled")) expect(get(v, "gpu.count")).toBe(1);
      expect(["emptyDir", "pvc", "image"]).toContain(String(get(v, "engines.volume")));
    });

    test(`${name}: the init container's arguments are ones convert accepts`, () => {
      const req = parseCli(get(v, "engines.build.args") as string[], {});
      expect(req).not.toBe("help");
      if (req !== "help" && req.trt) expect(req.trt.runner).toBe("local");
    });
  }

  test("the deployment wires the GPU, probes, preStop, ports and read-only mounts from values", () => {
    const d = templates["deployment.yaml"];
    expect(d).toContain('include "tc.gpuResources" (dict "resources" .Values.resources "gpu" .Values.gpu)');
    expect(templates["_helpers.tpl"]).toContain('"nvidia.com/gpu" .gpu.count');
    expect(d).toMatch(/containerPort: {{ \.Values\.containerPort }}/);
    expect(d).toMatch(/path: {{ \.Values\.probes\.startup\.path }}/);
    expect(d).toMatch(/terminationGracePeriodSeconds: {{ \.Values\.termination\.gracePeriodSeconds }}/);
    expect(d).toMatch(/preStop:\s+exec:/);
    expect(d).toContain('include "tc.appVolumeMounts" .');
    expect(templates["_helpers.tpl"]).toMatch(
      /define "tc.appVolumeMounts"[\s\S]*readOnly: true[\s\S]*mountPath: \/tmp/,
    );
    expect(templates["service.yaml"]).toMatch(/port: {{ \.Values\.service\.port }}\s+targetPort: http/);
    expect(templates["hpa.yaml"]).toContain("classifier_queue_depth");
  });
  describe("the batch Job, rendered (testkit/helm.ts)", () => {
    type Container = {
      name: string;
      args: string[];
      env: { name: string; value?: string; valueFrom?: unknown }[];
    } & Tree;
    type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes: Tree[] } & Tree;
    const HELM = join(ROOT, "helm");
    const podOf = (doc: Tree) => get(doc, "spec.template.spec") as PodSpec;
    /** The chart rendered with an overlay of `helm/envs` (or none) and the values given. */
    const render = (overlay: Tree, extra: Tree = {}) => renderChart(HELM, coalesce(overlay, extra));
    const job = (overlay: Tree, extra: Tree = {}) => {
      const docs = render(overlay, coalesce({ batchJob: { enabled: true } }, extra))["batch-job.yaml"];
      expect(docs).toHaveLength(1);
      return docs[0];
    };
    /** The arguments pod `index` runs with: Kubernetes' $(NAME) expansion from its environment. */
    function argvOf(container: Container, index: number): string[] {
      const env: Record<string, string> = {};
      for (const e of container.env) {
        const fromIndex =
          get(e as Tree, "valueFrom.fieldRef.fieldPath") ===
          "metadata.annotations['batch.kubernetes.io/job-completion-index']";
        if (fromIndex) env[e.name] = String(index);
        else if (e.value !== undefined) env[e.name] = e.value;
      }
      return container.args.map((a) =>
        a.replace(/\$\((\w+)\)/g, (_, name: string) => {
          if (!(name in env)) throw new Error(`$(${name}) is not in the container's environment`);
          return env[name];
        }),
      );
    }
    const flag = (argv: string[], name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
    const overlayCases: [string, Tree][] = [
      ["values.yaml", {}],
      ...Object.entries(overlays).map(([f, o]) => [`envs/${f}`, o] as [string, Tree]),
    ];

    test("off by default and in every overlay (no Job rendered); enabling it leaves the Deployment as it was", () => {
      for (const [name, overlay] of overlayCases) {
        const off = render(overlay);
        expect({ name, jobs: off["batch-job.yaml"].length }).toEqual({ name, jobs: 0 });
        const on = render(overlay, { batchJob: { enabled: true } });
        expect(on["deployment.yaml"]).toEqual(off["deployment.yaml"]);
      }
    });

    test("Indexed: completions, parallelism, backoffLimit and resources from values; pods never restarted in place", () => {
      const resources = { requests: { cpu: "3", memory: "6Gi" }, limits: { memory: "8Gi" } };
      const j = job({}, { batchJob: { completions: 8, parallelism: 3, backoffLimit: 2, resources } });
      expect(j).toMatchObject({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "rel-text-classifiers-classify" },
      });
      const long = renderChart(HELM, { batchJob: { enabled: true } }, "r".repeat(60))["batch-job.yaml"][0];
      expect(String(get(long, "metadata.name")).length).toBeLessThanOrEqual(63);
      expect(j.spec).toMatchObject({ completionMode: "Indexed", completions: 8, parallelism: 3, backoffLimit: 2 });
      const pod = podOf(j);
      expect(pod.restartPolicy).toBe("Never");
      // The GPU comes with the chart's gpu values, as for the Deployment; none on the CPU overlay.
      expect(pod.containers[0].resources).toEqual({
        ...resources,
        limits: { ...resources.limits, "nvidia.com/gpu": 1 },
      });
      expect(get(podOf(job(overlays["cpu.yaml"])).containers[0], "resources.limits")).not.toHaveProperty(
        "nvidia.com/gpu",
      );
    });

    test("index → shard: pod i runs `bun run classify` on shard i/N, N the completions, into its own part-i.parquet", () => {
      for (const n of [1, 4, 7]) {
        const j = job({}, { batchJob: { completions: n, input: "/in/day.csv", outputDir: "/out/day" } });
        const [container] = podOf(j).containers;
        expect(container.command).toEqual(["bun", "run", "classify"]);
        const runs = Array.from({ length: n }, (_, i) => argvOf(container, i));
        expect(runs.map((argv) => flag(argv, "--shard"))).toEqual(Array.from({ length: n }, (_, i) => `${i}/${n}`));
        expect(runs.map((argv) => flag(argv, "--output"))).toEqual(
          Array.from({ length: n }, (_, i) => `/out/day/part-${i}.parquet`),
        );
        expect(new Set(runs.map((argv) => flag(argv, "--errors"))).size).toBe(n);
        for (const [i, argv] of runs.entries()) {
          expect(flag(argv, "--input")).toBe("/in/day.csv");
          expect(flag(argv, "--engines")).toBe("/engines");
          // The classify CLI's own parser takes the arguments (an unknown flag would throw) and reads the shard.
          const parsed = parseBatchArgs(argv);
          expect([parsed?.shard, parsed?.output]).toEqual([
            { index: i, count: n },
            { path: `/out/day/part-${i}.parquet`, format: "parquet" },
          ]);
        }
      }
    });

    test("the CLI's optional flags from values, only when set", () => {
      const plain = argvOf(podOf(job({}, { batchJob: { idColumn: "", textColumn: "" } })).containers[0], 0);
      for (const f of [
        "--models",
        "--text-column",
        "--pair-column",
        "--id-column",
        "--top-k",
        "--raw-scores",
        "--chunk-rows",
      ])
        expect({ f, present: plain.includes(f) }).toEqual({ f, present: false });
      const set = {
        models: ["a", "b"],
        textColumn: "body",
        pairColumn: "hypothesis",
        idColumn: "post_id",
        topK: 3,
        rawScores: true,
        chunkRows: 5000,
      };
      const argv = argvOf(podOf(job({}, { batchJob: set })).containers[0], 0);
      expect([
        flag(argv, "--models"),
        flag(argv, "--text-column"),
        flag(argv, "--pair-column"),
        flag(argv, "--id-column"),
        flag(argv, "--top-k"),
        flag(argv, "--chunk-rows"),
      ]).toEqual(["a,b", "body", "hypothesis", "post_id", "3", "5000"]);
      expect(argv).toContain("--raw-scores");
      const parsed = parseBatchArgs(argv);
      expect([parsed?.models, parsed?.columns, parsed?.topK, parsed?.rawScores, parsed?.chunkRows]).toEqual([
        ["a", "b"],
        { text: "body", pair: "hypothesis", id: "post_id" },
        { kind: "ranked", k: 3 },
        true,
        5000,
      ]);
    });

    test("volumes: the engines, their init container and mounts exactly as the Deployment's, plus the input and output volumes", () => {
      for (const [name, overlay] of [...overlayCases, ["pvc", { engines: { volume: "pvc" } }] as [string, Tree]]) {
        const rendered = render(overlay, { batchJob: { enabled: true } });
        const deployment = podOf(rendered["deployment.yaml"][0]);
        const pod = podOf(rendered["batch-job.yaml"][0]);
        const data = (values.batchJob as Tree).volumes as Tree[];
        expect({ name, volumes: pod.volumes }).toEqual({ name, volumes: [...deployment.volumes, ...data] });
        expect({ name, init: pod.initContainers }).toEqual({ name, init: deployment.initContainers });
        const mounts = pod.containers[0].volumeMounts as Tree[];
        expect({ name, mounts }).toEqual({
          name,
          mounts: [
            ...(deployment.containers[0].volumeMounts as Tree[]),
            ...((values.batchJob as Tree).volumeMounts as Tree[]),
          ],
        });
      }
      // The default input and output paths lie on the default data volume's mount.
      const [mount] = (values.batchJob as Tree).volumeMounts as { mountPath: string }[];
      for (const path of [String(get(values, "batchJob.input")), String(get(values, "batchJob.outputDir"))])
        expect(path.startsWith(`${mount.mountPath}/`)).toBe(true);
    });

    test("the Job's pods are not the Service's: its selector does not match their labels", () => {
      const rendered = render({}, { batchJob: { enabled: true } });
      const selector = get(rendered["service.yaml"][0], "spec.selector") as Record<string, string>;
      const labels = get(rendered["batch-job.yaml"][0], "spec.template.metadata.labels") as Record<string, string>;
      expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(false);
      const podLabels = get(rendered["deployment.yaml"][0], "spec.template.metadata.labels") as Record<string, string>;
      expect(Object.entries(selector).every(([k, v]) => podLabels[k] === v)).toBe(true);
    });
  });
});
