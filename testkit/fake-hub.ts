import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gitBlobSha1, sha256 } from "../convert/hash.ts";

export interface FakeHubRepo {
  /** org/name */
  id: string;
  commit: string;
  dir: string;
  /** Files stored with LFS (hashed by sha256 in the tree listing), as the Hub does for weights. */
  lfs?: (path: string) => boolean;
}

/** How the fake Hub misbehaves, to test timeouts and retries. */
export type FakeHubFault =
  /** Accept the request and never answer. */
  | { kind: "hang" }
  /** Answer this status (with a JSON error body) instead. */
  | { kind: "status"; status: number }
  /** Send a file's headers and its first `afterBytes` bytes, then nothing (only bodies longer than that). */
  | { kind: "stall"; afterBytes: number }
  /** Send a file's bytes `chunkBytes` at a time, one chunk every `everyMs`. */
  | { kind: "drip"; chunkBytes: number; everyMs: number };

export interface FakeHubFaultRule {
  fault: FakeHubFault;
  /** Requests whose path contains this; every request when unset. */
  path?: string;
  /** How many requests it spoils before it is spent; all of them when unset. */
  times?: number;
}

export interface FakeHub {
  url: string;
  requests: { method: string; path: string; range: string | null; auth: string | null }[];
  /** Serve these bytes instead of the file's real content (a corrupted mirror). */
  corrupt: Set<string>;
  /** Faults the next requests meet: the first live rule that matches a request applies. */
  faults: FakeHubFaultRule[];
  stop(): void;
}

/**
 * A local server speaking the parts of the Hub's URL scheme @huggingface/hub uses:
 * `/api/models/{id}/revision/{rev}`, `/api/models/{id}/tree/{rev}` and `/{id}/resolve/{rev}/{path}`
 * with Range requests. The real Hub is unreachable from here; this is what HF_ENDPOINT points at.
 */
export function startFakeHub(repos: FakeHubRepo[]): FakeHub {
  const requests: FakeHub["requests"] = [];
  const corrupt = new Set<string>();
  const faults: FakeHubFaultRule[] = [];
  /** The first live rule for this path whose fault is one of `kinds` and `applies`; using it spends one. */
  const takeFault = <K extends FakeHubFault["kind"]>(
    path: string,
    kinds: K[],
    applies: (f: Extract<FakeHubFault, { kind: K }>) => boolean = () => true,
  ) => {
    const rule = faults.find(
      (r) =>
        (r.times === undefined || r.times > 0) &&
        (r.path === undefined || path.includes(r.path)) &&
        (kinds as string[]).includes(r.fault.kind) &&
        applies(r.fault as Extract<FakeHubFault, { kind: K }>),
    );
    if (rule?.times !== undefined) rule.times--;
    return rule?.fault as Extract<FakeHubFault, { kind: K }> | undefined;
  };
  const find = (id: string, rev: string) =>
    repos.find((r) => r.id === id && (rev === r.commit || rev === "main" || rev === "HEAD"));
  const notFound = (code = "RepoNotFound") =>
    new Response(JSON.stringify({ error: code }), { status: 404, headers: { "X-Error-Code": code } });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      requests.push({
        method: req.method,
        path: url.pathname,
        range: req.headers.get("range"),
        auth: req.headers.get("authorization"),
      });
      const early = takeFault(url.pathname, ["hang", "status"]);
      if (early?.kind === "hang") return new Promise<Response>(() => {});
      if (early?.kind === "status") return Response.json({ error: `fault ${early.status}` }, { status: early.status });
      const p = decodeURIComponent(url.pathname).split("/").filter(Boolean);
      if (p[0] === "api" && p[1] === "models") {
        const repo = find(`${p[2]}/${p[3]}`, p[5]);
        if (!repo) return notFound();
        if (p[4] === "revision")
          return Response.json({
            _id: repo.id,
            id: repo.id,
            sha: repo.commit,
            private: false,
            downloads: 0,
            likes: 0,
            lastModified: "2024-01-01T00:00:00Z",
          });
        if (p[4] === "tree")
          return Response.json(
            readdirSync(repo.dir).map((name) => {
              const data = readFileSync(join(repo.dir, name));
              const isLfs = repo.lfs?.(name) ?? false;
              return {
                type: "file",
                path: name,
                size: statSync(join(repo.dir, name)).size,
                oid: gitBlobSha1(data),
                ...(isLfs ? { lfs: { oid: sha256(data), size: data.byteLength, pointerSize: 134 } } : {}),
              };
            }),
          );
      }
      if (p[2] === "resolve") {
        const repo = find(`${p[0]}/${p[1]}`, p[3]);
        const path = p.slice(4).join("/");
        if (!repo) return notFound();
        let data: Uint8Array<ArrayBuffer>;
        try {
          data = new Uint8Array(readFileSync(join(repo.dir, path)));
        } catch {
          return notFound("EntryNotFound");
        }
        if (corrupt.has(path)) {
          data = data.slice();
          data[data.length >> 1] ^= 0xff;
        }
        const headers = { ETag: `"${sha256(data)}"`, "X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes" };
        const range = req.headers.get("range")?.match(/^bytes=(\d+)-(\d*)$/);
        if (range) {
          const start = Number(range[1]);
          const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
          return new Response(faulty(url.pathname, data.slice(start, end + 1)), {
            status: 206,
            headers: { ...headers, "Content-Range": `bytes ${start}-${end}/${data.length}` },
          });
        }
        return new Response(faulty(url.pathname, data), { headers });
      }
      return notFound();
    },
  });
  /** A file body as a stall or drip fault says, or as it is. */
  function faulty(path: string, body: Uint8Array<ArrayBuffer>): BodyInit {
    const fault = takeFault(path, ["stall", "drip"], (f) => f.kind === "drip" || body.length > f.afterBytes);
    if (fault?.kind === "stall")
      return new ReadableStream({ start: (out) => out.enqueue(body.slice(0, fault.afterBytes)) });
    if (fault?.kind === "drip") {
      let sent = 0;
      return new ReadableStream({
        async pull(out) {
          if (sent > 0) await Bun.sleep(fault.everyMs);
          out.enqueue(body.slice(sent, sent + fault.chunkBytes));
          sent += fault.chunkBytes;
          if (sent >= body.length) out.close();
        },
      });
    }
    return body;
  }
  return { url: `http://127.0.0.1:${server.port}`, requests, corrupt, faults, stop: () => server.stop(true) };
}
