// The console's signed-in browser as a caller of /v1 (app/http/app.ts): the session cookie stands
// for the tenant's admin, with every scope, and every write must carry the X-CSRF-Token header the
// console's pages hold, so a cookie alone (another site's form or fetch) changes nothing.
import type { FastifyRequest } from "fastify";
import type pg from "pg";
import { withTenant } from "../db/pool.ts";
import {
  PRINCIPAL_COLUMNS,
  principalOf,
  SCOPES,
  type Principal,
  type TenantPrincipalRow,
} from "../http/auth.ts";
import { Problem } from "../http/problem.ts";
import { cookieValue } from "../sso/routes.ts";
import { cookie, CONSOLE_COOKIE, CSRF_COOKIE, CSRF_HEADER, type ConsoleSessions } from "./session.ts";

const SAFE_METHODS = new Set(["GET", "HEAD"]);

export function consoleSessionCookie(request: FastifyRequest): string | undefined {
  return cookieValue(request.headers.cookie, CONSOLE_COOKIE);
}

/** The tenant of a console session, as a principal; undefined when the tenant is gone or disabled. */
export async function consolePrincipal(pool: pg.Pool, tenantId: string): Promise<Principal | undefined> {
  const row = await withTenant(pool, tenantId, async (db) => {
    const { rows } = await db.query<TenantPrincipalRow>(
      `SELECT ${PRINCIPAL_COLUMNS} FROM tenants t WHERE t.id = current_tenant_id() AND t.disabled_at IS NULL`,
    );
    return rows[0];
  });
  return row ? principalOf(row, { keyId: null, scopes: [...SCOPES] }) : undefined;
}

export async function authenticateConsoleSession(
  pool: pg.Pool,
  sessions: ConsoleSessions | undefined,
  request: FastifyRequest,
  value: string,
): Promise<Principal> {
  const checked = sessions?.check(value);
  const expired = new Problem(
    {
      type: "session-expired",
      title: "Session expired or revoked",
      status: 401,
      detail: "This console session has expired or is not valid. Sign in again at /sign-in.",
    },
    { "set-cookie": cookie(CONSOLE_COOKIE, "", 0) },
  );
  if (!checked?.ok) throw expired;
  if (
    !SAFE_METHODS.has(request.method) &&
    !sessions!.csrfValid(
      cookieValue(request.headers.cookie, CSRF_COOKIE),
      checked.session.id,
      request.headers[CSRF_HEADER],
    )
  ) {
    throw new Problem({
      type: "csrf-token-invalid",
      title: "Missing or wrong CSRF token",
      status: 403,
      detail: `A write with a console session must carry the page's token in the ${CSRF_HEADER} header. Reload the console page and try again, or use an API key.`,
    });
  }
  const principal = await consolePrincipal(pool, checked.session.tenantId);
  if (!principal) throw expired;
  return principal;
}
