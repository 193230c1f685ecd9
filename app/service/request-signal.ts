import { ApiError } from "../errors.ts";

/**
 * One signal for everything that ends a request early: its deadline (deadline_exceeded), its client
 * going away (client_closed), the service stopping (`stopped`'s reason: the drain's grace period is
 * over), or the code that holds it (abort(reason), e.g. one model failed). Rows still queued under
 * it leave the queue unrun. `dispose` clears the timer and the listeners.
 */
export function requestSignal(timeoutMs: number | undefined, client?: AbortSignal, stopped?: AbortSignal) {
  const controller = new AbortController();
  // No deadline (/tokenize): only the client or the service stopping end it early.
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            controller.abort(new ApiError("deadline_exceeded", `not started within the deadline of ${timeoutMs} ms`)),
          timeoutMs,
        );
  const clientGone = () => controller.abort(new ApiError("client_closed", "the client closed the connection"));
  if (client?.aborted) clientGone();
  else client?.addEventListener("abort", clientGone, { once: true });
  const stop = () => controller.abort(stopped?.reason);
  if (stopped?.aborted) stop();
  else stopped?.addEventListener("abort", stop, { once: true });
  return {
    signal: controller.signal,
    abort: (reason: unknown) => controller.abort(reason),
    dispose() {
      clearTimeout(timer);
      client?.removeEventListener("abort", clientGone);
      stopped?.removeEventListener("abort", stop);
    },
  };
}
