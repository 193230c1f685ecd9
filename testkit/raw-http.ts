/** A raw HTTP/1.1 exchange over TCP: the bytes a client that fetch() would not write sends, and the answer as it came. */
export interface RawAnswer {
  /** The status code of the first line, or 0 when the connection closed without an answer. */
  status: number;
  /** The status line and headers, lower-cased names. */
  head: { statusLine: string; headers: Record<string, string> };
  body: string;
}

/**
 * Writes `request` as given to the server at `url` and reads until the server closes the connection
 * (send `Connection: close` for an answer the service would otherwise keep alive), or `timeoutMs`.
 */
export async function rawRequest(url: string, request: string | Uint8Array, timeoutMs = 30_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const received: Uint8Array[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (s) => void s.write(request),
        data: (_s, d) => void received.push(new Uint8Array(d)),
        close: done,
        error: done,
      },
    }).catch(reject);
  });
  const text = Buffer.concat(received).toString("utf8");
  const split = text.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = (split < 0 ? text : text.slice(0, split)).split("\r\n");
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
  );
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  return { status, head: { statusLine, headers }, body: split < 0 ? "" : text.slice(split + 4) };
}

/** A chunked request body of `parts`, one HTTP chunk each, and the closing chunk. */
export const chunked = (parts: string[]) =>
  `${parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("")}0\r\n\r\n`;
