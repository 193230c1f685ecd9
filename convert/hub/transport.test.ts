import { afterAll, describe, expect, test } from "bun:test";
import { HubRequestError, timedFetch } from "./transport.ts";

// A server that never answers /hang, and sends /stall's headers and first bytes then nothing.
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/hang") return new Promise<Response>(() => {});
    if (path === "/stall") return new Response(new ReadableStream({ start: (out) => out.enqueue(new Uint8Array(8)) }));
    if (path === "/missing") return new Response("no", { status: 404 });
    return new Response("hello", { headers: { "x-kept": "yes" } });
  },
});
afterAll(() => server.stop(true));
const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
const LIMITS = { connectTimeoutMs: 100, readTimeoutMs: 100 };

describe("a fetch with connect and read timeouts", () => {
  test("no answer within the connect timeout is a typed timeout", async () => {
    const t = timedFetch(LIMITS);
    const error = await t.fetch(url("/hang")).catch((e) => e);
    expect(error).toBeInstanceOf(HubRequestError);
    expect(error.failure).toEqual({ kind: "timeout", phase: "connect", ms: 100 });
    expect(t.lastFailure).toEqual(error.failure);
  });

  test("a body that goes silent is a typed read timeout", async () => {
    const t = timedFetch(LIMITS);
    const response = await t.fetch(url("/stall"));
    const error = await response.arrayBuffer().catch((e) => e);
    expect(error).toBeInstanceOf(HubRequestError);
    expect(error.failure).toEqual({ kind: "timeout", phase: "read", ms: 100 });
  });

  test("a refused connection is a typed network failure", async () => {
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const port = closed.port;
    closed.stop(true);
    const error = await timedFetch(LIMITS)
      .fetch(`http://127.0.0.1:${port}/`)
      .catch((e) => e);
    expect(error.failure.kind).toBe("network");
  });

  test("a consumer slower than the read timeout is not blamed on the Hub", async () => {
    const response = await timedFetch(LIMITS).fetch(url("/ok"));
    await Bun.sleep(250);
    expect(await response.text()).toBe("hello");
    expect(response.headers.get("x-kept")).toBe("yes");
    expect(response.url).toBe(url("/ok"));
  });

  test("an error status is answered as it is and remembered for the retry decision", async () => {
    const t = timedFetch(LIMITS);
    const response = await t.fetch(url("/missing"));
    expect(response.status).toBe(404);
    expect(t.lastFailure).toMatchObject({ kind: "status", status: 404 });
  });
});
