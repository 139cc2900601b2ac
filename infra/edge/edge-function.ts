// The edge function's one source file and what identifies a deployment of it: the stacks deploy
// exactly these bytes, and the policy pack compares deployments by the same hash.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export const EDGE_FUNCTION_SOURCE = new URL("./viewer-request.js", import.meta.url);
export const EDGE_FUNCTION_RUNTIME = "cloudfront-js-2.0";
/** CloudFront Functions refuse code above 10 KB. */
export const EDGE_FUNCTION_MAX_BYTES = 10_240;
/** Keys of the edge KeyValueStore the function reads (docs/runbooks/edge.md sets them). */
export const EDGE_KEYS = {
  writeFreeze: "write-freeze",
  activeRegion: "active-region",
  retryAfterSeconds: "retry-after-seconds",
} as const;

export function edgeFunctionCode(): string {
  return readFileSync(EDGE_FUNCTION_SOURCE, "utf8");
}

/** sha256 of the code, the identity the policy rule compares wherever the function is referenced. */
export function codeHash(code: string): string {
  return createHash("sha256").update(code).digest("hex");
}
