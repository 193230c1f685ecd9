import { existsSync, readFileSync } from "node:fs";

/** A process's resident memory in bytes (/proc's VmRSS); 0 once it is gone. */
export function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The ids of a process's children and theirs, from /proc. */
export function descendantsOf(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  const kids = readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  return kids.flatMap((k) => [k, ...descendantsOf(k)]);
}

/** The resident memory of a process and all its descendants (a service with its tokenizer processes). */
export const treeRss = (pid: number) => [pid, ...descendantsOf(pid)].reduce((n, p) => n + rssOf(p), 0);
