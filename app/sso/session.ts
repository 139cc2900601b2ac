// An SSO session as a caller of /v1: the session cookie instead of an API key, for reads only.
// Unlike keys it is looked up on every request (no cache), so logout and revocation take effect on
// the next request on every replica.
import type { FastifyRequest } from "fastify";
import type { Principal } from "../http/auth.ts";
import { featureProblem, type FeatureGateOptions } from "../http/features.ts";
import { Problem } from "../http/problem.ts";
import { sessionCookie } from "./routes.ts";
import { sessionPrincipal } from "./store.ts";

export async function authenticateSession(
  options: FeatureGateOptions,
  request: FastifyRequest,
  token: string,
): Promise<Principal> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    throw new Problem({
      type: "session-read-only",
      title: "Sessions are read-only",
      status: 403,
      detail:
        "A single sign-on session may read (GET) only. Send writes with an API key: 'Authorization: Bearer <key>'.",
    });
  }
  const principal = await sessionPrincipal(options.pool, token);
  if (!principal) {
    throw new Problem(
      {
        type: "session-expired",
        title: "Session expired or revoked",
        status: 401,
        detail: "This sign-on session has expired or was revoked. Sign in again at /sso/<tenant>/login.",
      },
      { "set-cookie": sessionCookie("", 0) },
    );
  }
  // The plan may have lost SSO since the session began.
  if (!principal.features.has("sso")) throw await featureProblem(options, principal, "sso");
  return principal;
}
