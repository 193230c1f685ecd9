/** Docker HEALTHCHECK: healthy when readiness answers 200 (models warm, workers up, not draining). */
const port = process.env.PORT || "8000";
try {
  const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}

// A module (top-level await): the file is run alone by HEALTHCHECK and imports nothing.
export {};
