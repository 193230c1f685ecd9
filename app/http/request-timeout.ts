import { ApiError } from "../errors.ts";

/** A client may ask for a shorter deadline than the server's, never a longer one. */
export const TIMEOUT_HEADER = "x-request-timeout-ms";

export function requestTimeout(header: string | null, serverMs: number): number {
  if (header === null) return serverMs;
  const v = Number(header);
  if (!/^\d+$/.test(header.trim()) || !Number.isSafeInteger(v) || v < 1) {
    const got = header.slice(0, 40);
    throw new ApiError("invalid_header", `${TIMEOUT_HEADER} must be a positive integer of milliseconds, got "${got}"`);
  }
  return Math.min(v, serverMs);
}
