// Typed driver failures. On-call reads a failed observation in a condition: "permission denied" needs
// a grant, "unreachable" a look at the network or the database, "authentication failed" a rotated
// secret. The reason is classified once here from PostgreSQL SQLSTATEs, Node socket errors and AWS
// SDK error names, and becomes the condition's reason; the message keeps what failed and the detail.

export const DRIVER_FAILURE_REASONS = [
  /** The credentials work but lack a grant (SQLSTATE 42501, AWS AccessDenied, HTTP 403). */
  "PermissionDenied",
  /** The credentials were refused (SQLSTATE 28P01/28000, AWS InvalidClientTokenId, HTTP 401). */
  "AuthenticationFailed",
  /** Nothing answered: connection refused or reset, unknown host, database shutting down. */
  "Unreachable",
  /** Something answered too slowly (connect or query timeout). */
  "TimedOut",
  /** Anything else; the message has the detail. */
  "Failed",
] as const;
export type DriverFailureReason = (typeof DRIVER_FAILURE_REASONS)[number];

/** What the decider sees of a failed observation or action: plain data, no Error object. */
export interface DriverFailure {
  reason: DriverFailureReason;
  message: string;
}

export class DriverError extends Error implements DriverFailure {
  readonly reason: DriverFailureReason;

  constructor(reason: DriverFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DriverError";
    this.reason = reason;
  }
}

const PERMISSION_SQLSTATES = new Set(["42501"]);
const AUTHENTICATION_SQLSTATES = new Set(["28P01", "28000"]);
/** Connection exceptions (08xxx) and operator intervention (57P01-57P03: shutdown, cannot connect now). */
const UNREACHABLE_SQLSTATE = /^(08|57P0[1-3])/;
const UNREACHABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);
const AWS_PERMISSION = new Set(["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"]);
const AWS_AUTHENTICATION = new Set([
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
]);

interface ErrorShape {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function classifyDriverError(error: unknown): DriverFailureReason {
  if (error instanceof DriverError) return error.reason;
  const e = (error ?? {}) as ErrorShape;
  const code = typeof e.code === "string" ? e.code : "";
  const name = typeof e.name === "string" ? e.name : "";
  const message = typeof e.message === "string" ? e.message : String(error);
  const http = e.$metadata?.httpStatusCode;
  if (PERMISSION_SQLSTATES.has(code) || AWS_PERMISSION.has(name) || AWS_PERMISSION.has(code) || http === 403)
    return "PermissionDenied";
  if (AUTHENTICATION_SQLSTATES.has(code) || AWS_AUTHENTICATION.has(name) || http === 401)
    return "AuthenticationFailed";
  if (code === "ETIMEDOUT" || name === "TimeoutError" || /timeout|timed out/i.test(message))
    return "TimedOut";
  if (UNREACHABLE_SOCKET_CODES.has(code) || UNREACHABLE_SQLSTATE.test(code)) return "Unreachable";
  // node-postgres reports a dropped connection without a code, and Node wraps a refused
  // connection to a dual-stack host in an AggregateError of per-address errors.
  if (/Connection terminated|ECONNREFUSED|ECONNRESET|socket hang up/i.test(message)) return "Unreachable";
  if (Array.isArray(e.errors) && e.errors.length > 0) return classifyDriverError(e.errors[0]);
  return "Failed";
}

const PHRASES: Record<DriverFailureReason, string> = {
  PermissionDenied: "permission denied",
  AuthenticationFailed: "authentication failed",
  Unreachable: "unreachable",
  TimedOut: "timed out",
  Failed: "failed",
};

/**
 * `error` as a DriverError saying what was attempted: "reading replication state on secondary's
 * database: unreachable (connect ECONNREFUSED 127.0.0.1:5433)". A DriverError passes unchanged:
 * the innermost context (the driver's own) is the most precise.
 */
export function toDriverError(error: unknown, attempted: string): DriverError {
  if (error instanceof DriverError) return error;
  const reason = classifyDriverError(error);
  const e = (error ?? {}) as ErrorShape;
  const first = Array.isArray(e.errors) ? (e.errors[0] as { message?: unknown } | undefined) : undefined;
  const detail =
    (typeof e.message === "string" && e.message) ||
    (typeof first?.message === "string" && first.message) ||
    String(error);
  const code = typeof e.code === "string" && !detail.includes(e.code) ? ` [${e.code}]` : "";
  return new DriverError(reason, `${attempted}: ${PHRASES[reason]} (${detail}${code})`, { cause: error });
}
