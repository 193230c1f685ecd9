/**
 * `bun run demo`: the service on tiny random-weight models shaped like the five, converted here by
 * the real converter into a scratch folder: no Hub, no ../shared, no GPU. The answers are
 * meaningless (random weights); everything between the HTTP request and the scores is the real path.
 *   DEMO_DIR (default: <tmp>/text-classifiers-demo), PORT (8000) and the service's other settings apply.
 * The demo's own lines go to stderr; stdout is the service's JSON log.
 */
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { prepareDemo } from "./models.ts";

const dir = resolve(process.env.DEMO_DIR ?? join(tmpdir(), "text-classifiers-demo"));
const port = process.env.PORT ?? "8000";
const say = (line: string) => console.error(line);

say(`demo: converting five tiny random-weight models into ${join(dir, "engines")} (a few seconds)`);
const engines = await prepareDemo(dir, (m) => say(`demo: ${m}`));

const service = Bun.spawn(["bun", join(import.meta.dir, "..", "app", "index.ts")], {
  env: { HOST: "127.0.0.1", ...process.env, ENGINES_DIR: engines, AUTO_CONVERT: "false", PORT: port },
  stdout: "inherit",
  stderr: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => service.kill("SIGTERM"));

const url = `http://127.0.0.1:${port}`;
while (service.exitCode === null) {
  if ((await fetch(`${url}/health/ready`).catch(() => null))?.status === 200) break;
  await Bun.sleep(250);
}
if (service.exitCode === null) {
  const rule = "─".repeat(100);
  say(
    [
      rule,
      " DEMO: random weights. Every label and score below is MEANINGLESS: the models are tiny",
      " random-weight stand-ins shaped like the five (the real ones come from the Hugging Face Hub:",
      " bun run start). The HTTP API, tokenizers, batching and onnxruntime are the real service's.",
      "",
      ` Try:  curl -s localhost:${port}/process -H 'content-type: application/json' -d '"Hello world"'`,
      `       curl -s localhost:${port}/tokenize -H 'content-type: application/json' -d '"Hello world"'`,
      `       open http://localhost:${port}/docs`,
      " Stop: Ctrl-C",
      rule,
    ].join("\n"),
  );
}
process.exit(await service.exited);
