import { ApiError } from "../errors.ts";
import type { ClassifierApi } from "../service/api.ts";
import type { ServiceSource } from "./deps.ts";

/** The service, or 503 not_ready (with Retry-After) while the models load. */
export function readyService(service: ServiceSource): ClassifierApi {
  const s = service();
  if (!s) throw new ApiError("not_ready", "the models are still loading");
  return s;
}
