// `bun run bench`: the benchmark (bench/run.ts). The closed-loop probe alone: bun bench/closed-loop.ts.
await import("./run.ts");
export {};
