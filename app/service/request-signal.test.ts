import { describe, expect, test } from "bun:test";
import { ApiError } from "../errors.ts";
import { requestSignal } from "./request-signal.ts";

const codeOf = (signal: AbortSignal) => (signal.reason instanceof ApiError ? signal.reason.code : signal.reason);

describe("request signal", () => {
  test("aborts with deadline_exceeded at the deadline", async () => {
    const r = requestSignal(5);
    await new Promise((resolve) => r.signal.addEventListener("abort", resolve));
    expect(codeOf(r.signal)).toBe("deadline_exceeded");
    r.dispose();
  });

  test("aborts with client_closed when the client goes, also when it had gone before", () => {
    const client = new AbortController();
    const r = requestSignal(60_000, client.signal);
    expect(r.signal.aborted).toBe(false);
    client.abort();
    expect(codeOf(r.signal)).toBe("client_closed");
    r.dispose();
    const late = requestSignal(60_000, client.signal);
    expect(codeOf(late.signal)).toBe("client_closed");
    late.dispose();
  });

  test("aborts with the stopped signal's reason when the service stops, also when it had stopped before", () => {
    const stopped = new AbortController();
    const r = requestSignal(60_000, undefined, stopped.signal);
    expect(r.signal.aborted).toBe(false);
    stopped.abort(new ApiError("shutting_down", "stopped"));
    expect(codeOf(r.signal)).toBe("shutting_down");
    r.dispose();
    expect(codeOf(requestSignal(60_000, undefined, stopped.signal).signal)).toBe("shutting_down");
  });

  test("abort(reason) ends it with that reason; after dispose neither the timer nor the client abort it", async () => {
    const own = requestSignal(60_000);
    own.abort("one model failed");
    expect(own.signal.reason).toBe("one model failed");
    own.dispose();
    const client = new AbortController();
    const r = requestSignal(5, client.signal);
    r.dispose();
    client.abort();
    await Bun.sleep(20);
    expect(r.signal.aborted).toBe(false);
  });
});
