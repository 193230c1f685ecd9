import { openapi } from "@elysiajs/openapi";

/** The JSON document at /openapi (what client generators fetch), a Scalar page at /docs. */
export const docsRoutes = () =>
  openapi({
    path: "/docs",
    specPath: "/openapi",
    exclude: { paths: ["/docs", "/openapi"] },
    documentation: {
      info: {
        title: "Text classifiers service",
        version: "0.1.0",
        description:
          "Five Hugging Face text classifiers behind one endpoint: a text in, each model's top label and score out.",
      },
      tags: [{ name: "classify" }, { name: "debug" }, { name: "operations" }],
    },
  });
