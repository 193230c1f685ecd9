import { ApiError } from "../errors.ts";

/**
 * One signal for everything that ends a request early: its deadline (deadline_exceeded), its client
 * going away (client_closed), or the code that holds it (abort(reason), e.g. one model failed). Rows
 * still queued under it leave the queue unrun. `dispose` clears the timer and the client listener.
 */
export function requestSignal(timeoutMs: number, client?: AbortSignal) {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new ApiError("deadline_exceeded", `not started within the deadline of ${timeoutMs} ms`)),
    timeoutMs,
  );
  const clientGone = () => controller.abort(new ApiError("client_closed", "the client closed the connection"));
  if (client?.aborted) clientGone();
  else client?.addEventListener("abort", clientGone, { once: true });
  return {
    signal: controller.signal,
    abort: (reason: unknown) => controller.abort(reason),
    dispose() {
      clearTimeout(timer);
      client?.removeEventListener("abort", clientGone);
    },
  };
}
