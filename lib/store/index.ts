export * from "./contract.ts";
export * from "./files.ts";
