/** What went wrong with one request to the Hub, in the terms retry decisions and error messages need. */
export type HubFailure =
  | { kind: "timeout"; phase: "connect" | "read"; ms: number }
  | { kind: "network"; detail: string }
  | { kind: "status"; status: number; detail: string };

/** A request to the Hub that failed: thrown by the timed fetch (timeouts, connections) and by download checks. */
export class HubRequestError extends Error {
  constructor(readonly failure: HubFailure) {
    super(
      failure.kind === "timeout"
        ? `${failure.phase} timeout after ${failure.ms} ms`
        : failure.kind === "network"
          ? failure.detail
          : `HTTP ${failure.status} ${failure.detail}`,
    );
    this.name = "HubRequestError";
  }
}

export interface TimedFetch {
  /** fetch with a connect timeout (until the headers arrive) and a read timeout (between body chunks). */
  fetch: typeof fetch;
  /**
   * The last failure this fetch saw: @huggingface/hub turns an error inside a Blob's stream into its
   * message (a string), so this is how a retry still learns it was a timeout or a 503.
   */
  readonly lastFailure: HubFailure | undefined;
}

const networkDetail = (e: unknown) => {
  const err = e as { code?: string; message?: string };
  const message = err?.message ?? String(e);
  return err?.code && !message.includes(err.code) ? `${err.code}: ${message}` : message;
};

/** One fetch per attempt, so `lastFailure` describes that attempt only. */
export function timedFetch(limits: { connectTimeoutMs: number; readTimeoutMs: number }): TimedFetch {
  let lastFailure: HubFailure | undefined;
  const fail = (failure: HubFailure) => {
    lastFailure = failure;
    return new HubRequestError(failure);
  };

  const fetchWithTimeouts = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const controller = new AbortController();
    const signal = init?.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
    const ms = limits.connectTimeoutMs;
    const connectTimer = setTimeout(() => controller.abort(fail({ kind: "timeout", phase: "connect", ms })), ms);
    let response: Response;
    try {
      response = await fetch(input, { ...init, signal });
    } catch (e) {
      if (controller.signal.aborted || init?.signal?.aborted) throw controller.signal.reason ?? e;
      throw fail({ kind: "network", detail: networkDetail(e) });
    } finally {
      clearTimeout(connectTimer);
    }
    if (!response.ok) lastFailure = { kind: "status", status: response.status, detail: response.statusText };
    if (!response.body) return response;
    const watched = new Response(watchedBody(response.body, limits.readTimeoutMs, controller, fail), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    // @huggingface/hub reads response.url (where a redirect led); a constructed Response has none.
    Object.defineProperty(watched, "url", { value: response.url });
    return watched;
  };

  return {
    fetch: fetchWithTimeouts as typeof fetch,
    get lastFailure() {
      return lastFailure;
    },
  };
}

/**
 * The body, read on demand: the read timeout runs only while a read waits on the Hub, so a slow consumer
 * (or one that never reads, like a probe's) is never blamed on the network.
 */
function watchedBody(
  body: ReadableStream<Uint8Array>,
  readTimeoutMs: number,
  controller: AbortController,
  fail: (f: HubFailure) => HubRequestError,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(out) {
        const timer = setTimeout(
          () => controller.abort(fail({ kind: "timeout", phase: "read", ms: readTimeoutMs })),
          readTimeoutMs,
        );
        try {
          const { done, value } = await reader.read();
          if (done) out.close();
          else out.enqueue(value);
        } catch (e) {
          out.error(
            controller.signal.aborted ? controller.signal.reason : fail({ kind: "network", detail: networkDetail(e) }),
          );
        } finally {
          clearTimeout(timer);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
