import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";

/** Where the page loads Scalar from: this service, so /docs works where no CDN can be reached. */
const SCALAR_PATH = "/docs/scalar.js";

/** Scalar's standalone browser bundle (one self-contained file), pinned in package.json's devDependencies. */
interface ScalarBundle {
  version: string;
  bytes: Uint8Array<ArrayBuffer>;
}

/** @elysiajs/openapi types these as Scalar's whole configuration (defaults included); the page takes any part of it. */
type ScalarOptions = NonNullable<NonNullable<Parameters<typeof openapi>[0]>["scalar"]>;

let bundle: ScalarBundle | undefined;

/**
 * The image holds only the bundle (the package brings 300 MB of dependencies for this one file): the
 * Dockerfile's docs-bundle stage writes it here with its version, from the version package.json pins.
 */
const VENDORED = join(import.meta.dir, "..", "..", "..", "vendor", "scalar");

/** Read once per process, at the first createApp: a missing bundle fails the start, not the first page view. */
export function scalarBundle(): ScalarBundle {
  if (bundle) return bundle;
  if (existsSync(join(VENDORED, "standalone.js"))) {
    const version = readFileSync(join(VENDORED, "version"), "utf8").trim();
    bundle = { version, bytes: new Uint8Array(readFileSync(join(VENDORED, "standalone.js"))) };
    return bundle;
  }
  const pkgFile = Bun.resolveSync("@scalar/api-reference/package.json", import.meta.dir);
  const { version } = JSON.parse(readFileSync(pkgFile, "utf8")) as { version: string };
  const file = join(dirname(pkgFile), "dist", "browser", "standalone.js");
  bundle = { version, bytes: new Uint8Array(readFileSync(file)) };
  return bundle;
}

/**
 * The JSON document at /openapi (what client generators fetch), a Scalar page at /docs, and the
 * Scalar bundle that page runs. The page makes no request off this service: no CDN, no web fonts,
 * no telemetry.
 */
export function docsRoutes() {
  const scalar = scalarBundle();
  return new Elysia({ name: "routes/docs" })
    .use(
      openapi({
        path: "/docs",
        specPath: "/openapi",
        exclude: { paths: ["/docs", "/openapi", SCALAR_PATH] },
        scalar: {
          // The version in the URL: a browser may keep the bundle for a year and still sees an upgrade.
          version: scalar.version,
          cdn: `${SCALAR_PATH}?v=${scalar.version}`,
          defaultOpenAllTags: true,
          withDefaultFonts: false,
          telemetry: false,
        } as ScalarOptions,
        documentation: {
          info: {
            title: "Text classifiers service",
            version: "0.1.0",
            description:
              "Five Hugging Face text classifiers behind one endpoint: " +
              "a text in, each model's top label and score out.",
          },
          tags: [{ name: "classify" }, { name: "debug" }, { name: "operations" }],
        },
      }),
    )
    .get(
      SCALAR_PATH,
      ({ set }) => {
        set.headers["content-type"] = "text/javascript; charset=utf-8";
        set.headers["cache-control"] = "public, max-age=31536000, immutable";
        return new Response(scalar.bytes);
      },
      { detail: { hide: true } },
    );
}
