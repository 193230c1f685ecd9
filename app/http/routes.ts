/**
 * Every path the app serves, with the one method it answers: the error handler reads it (another
 * method on a known path is 405 with Allow, not 404) and so do the metrics' route labels.
 */
export const ROUTES: ReadonlyMap<string, "GET" | "POST"> = new Map([
  ["/process", "POST"],
  ["/tokenize", "POST"],
  ["/zero-shot", "POST"],
  ["/rerank", "POST"],
  ["/models", "GET"],
  ["/metrics", "GET"],
  ["/health/live", "GET"],
  ["/health/ready", "GET"],
  ["/openapi", "GET"],
  ["/docs", "GET"],
  ["/docs/scalar.js", "GET"],
]);

/** A known path keeps its own label; any other is "other", so a scanner cannot blow up the series count. */
export const routeLabel = (path: string) => (ROUTES.has(path) ? path : "other");
