/**
 * /docs in a real browser (Debian's headless Chromium) with the network closed: the Scalar page
 * loads its bundle and the OpenAPI document from this service and renders every route, and no
 * request the page makes leaves the machine (what an air-gapped cluster needs).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../app/config.ts";
import { createApp, listenOptions } from "../app/server.ts";
import { tempDir } from "../testkit/fixtures.ts";

// Chromium's start and the page's script take seconds on a 2-core machine.
setDefaultTimeout(60_000);

const CHROMIUM = Bun.which("chromium");
const SKIPPED =
  "chromium is not installed (apt-get install -y chromium; .ci/run installs it): /docs not checked in a browser";
if (!CHROMIUM) console.warn(`test/docs.e2e.test.ts: skipped: ${SKIPPED}`);

let app: ReturnType<typeof createApp>;
let origin: string;

beforeAll(() => {
  // The docs need no models: the app with no service answers /docs and /openapi as the real one does.
  app = createApp({ config: loadConfig({}), service: () => null });
  app.listen(listenOptions({ ...loadConfig({}), host: "127.0.0.1", port: 0 }));
  origin = `http://127.0.0.1:${app.server!.port}`;
});
afterAll(() => app?.stop());

interface NetLog {
  constants: { logEventTypes: Record<string, number> };
  events: { type: number; params?: { url?: string; initiator?: string } }[];
}

/** The URLs the page itself asked for (its initiator is a web origin), and the navigation to it. */
function pageRequests(log: NetLog, page: string): string[] {
  const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
  return log.events
    .filter((e) => e.type === start && e.params?.url)
    .filter((e) => e.params!.url === page || e.params!.initiator?.startsWith("http"))
    .map((e) => e.params!.url!);
}

/** Chromium's net log; it lacks its closing brackets when the browser did not shut down cleanly. */
function readNetLog(file: string): NetLog {
  const text = readFileSync(file, "utf8").trim();
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(`${text.replace(/,$/, "")}]}`);
  }
}

describe("/docs in headless Chromium", () => {
  test.skipIf(!CHROMIUM)(
    "renders /process, /tokenize and /models with the network closed, and every request it makes stays on this service",
    async () => {
      const profile = tempDir("docs-chromium");
      const netLog = join(profile, "net-log.json");
      const page = `${origin}/docs`;
      try {
        const browser = Bun.spawn(
          [
            CHROMIUM!,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            `--user-data-dir=${profile}`,
            // The network closed: anything not on loopback goes to a proxy that is not there.
            "--proxy-server=http://127.0.0.1:9",
            `--log-net-log=${netLog}`,
            // Virtual time: the page's script runs (and fetches /openapi) before the DOM is dumped.
            "--virtual-time-budget=15000",
            "--dump-dom",
            page,
          ],
          { stdout: "pipe", stderr: "pipe" },
        );
        const timer = setTimeout(() => browser.kill("SIGKILL"), 50_000);
        // stderr: D-Bus complaints of a machine without a session bus, read so the pipe never fills.
        const [dom, , code] = await Promise.all([
          new Response(browser.stdout).text(),
          new Response(browser.stderr).text(),
          browser.exited,
        ]);
        clearTimeout(timer);
        expect([code, dom.length > 0]).toEqual([0, true]);

        const requested = pageRequests(readNetLog(netLog), page);
        const offService = requested.filter((u) => new URL(u).origin !== origin);
        expect(offService).toEqual([]);
        expect(requested).toContain(`${origin}/openapi`);
        expect(requested.some((u) => u.startsWith(`${origin}/docs/scalar.js?v=`))).toBe(true);

        // Rendered from the document the page fetched: the page itself names no route.
        const shown = [
          "/process",
          "/tokenize",
          "/models",
          "Classify a text or a text pair (or an array of them) with every model",
        ];
        expect(shown.filter((s) => !dom.includes(s))).toEqual([]);
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
