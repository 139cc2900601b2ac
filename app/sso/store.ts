// The SSO tables as read and written (sso_providers, sso_logins, sso_sessions; migration 0009). A
// login and a session are looked up before their tenant is known, each through a setting naming
// only its own row (app.sso_state, app.sso_session_hash, app.sso_tenant_slug; see the policies).
import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { transaction, type Db } from "../db/pool.ts";
import { PRINCIPAL_COLUMNS, principalOf, type Principal, type TenantPrincipalRow } from "../http/auth.ts";

export interface SsoProvider {
  issuer: string;
  clientId: string;
  clientSecretRef: string;
  updatedAt: string;
}

export interface PendingLogin {
  tenantId: string;
  nonce: string;
  codeVerifier: string;
  expired: boolean;
  consumed: boolean;
}

export interface SsoSession {
  token: string;
  expiresAt: Date;
}

export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");

/** The tenant a browser names at login, with its plan's features, or undefined. */
export async function tenantBySlug(pool: pg.Pool, slug: string): Promise<Principal | undefined> {
  return transaction(pool, async (db) => {
    await db.query("SELECT set_config('app.sso_tenant_slug', $1, true)", [slug]);
    const { rows } = await db.query<TenantPrincipalRow>(
      `SELECT ${PRINCIPAL_COLUMNS} FROM tenants t WHERE t.slug = $1 AND t.disabled_at IS NULL`,
      [slug],
    );
    return rows[0] ? principalOf(rows[0]) : undefined;
  });
}

/** The tenant in context (enabled), with its plan's features. */
export async function tenantInContext(db: Db): Promise<Principal | undefined> {
  const { rows } = await db.query<TenantPrincipalRow>(
    `SELECT ${PRINCIPAL_COLUMNS} FROM tenants t WHERE t.id = current_tenant_id() AND t.disabled_at IS NULL`,
  );
  return rows[0] ? principalOf(rows[0]) : undefined;
}

export async function readProvider(db: Db): Promise<SsoProvider | undefined> {
  const { rows } = await db.query<{
    issuer: string;
    client_id: string;
    client_secret_ref: string;
    updated_at: Date;
  }>("SELECT issuer, client_id, client_secret_ref, updated_at FROM sso_providers");
  const row = rows[0];
  return row
    ? {
        issuer: row.issuer,
        clientId: row.client_id,
        clientSecretRef: row.client_secret_ref,
        updatedAt: row.updated_at.toISOString(),
      }
    : undefined;
}

export async function writeProvider(db: Db, provider: Omit<SsoProvider, "updatedAt">): Promise<SsoProvider> {
  await db.query(
    `INSERT INTO sso_providers (tenant_id, issuer, client_id, client_secret_ref) VALUES (current_tenant_id(), $1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
       client_secret_ref = excluded.client_secret_ref, updated_at = now()`,
    [provider.issuer, provider.clientId, provider.clientSecretRef],
  );
  return (await readProvider(db)) as SsoProvider;
}

export async function recordLogin(
  db: Db,
  login: { state: string; nonce: string; codeVerifier: string; ttlSeconds: number },
): Promise<void> {
  await db.query(
    `INSERT INTO sso_logins (state, tenant_id, nonce, code_verifier, expires_at)
     VALUES ($1, current_tenant_id(), $2, $3, now() + make_interval(secs => $4))`,
    [login.state, login.nonce, login.codeVerifier, login.ttlSeconds],
  );
}

/** The login a callback's state names, whoever's tenant it is. */
export async function pendingLogin(pool: pg.Pool, state: string): Promise<PendingLogin | undefined> {
  return transaction(pool, async (db) => {
    await db.query("SELECT set_config('app.sso_state', $1, true)", [state]);
    const { rows } = await db.query<{
      tenant_id: string;
      nonce: string;
      code_verifier: string;
      expired: boolean;
      consumed: boolean;
    }>(
      `SELECT tenant_id, nonce, code_verifier, expires_at < now() AS expired, consumed_at IS NOT NULL AS consumed
         FROM sso_logins WHERE state = $1`,
      [state],
    );
    const row = rows[0];
    return row
      ? {
          tenantId: row.tenant_id,
          nonce: row.nonce,
          codeVerifier: row.code_verifier,
          expired: row.expired,
          consumed: row.consumed,
        }
      : undefined;
  });
}

/** Marks the login used; false when another callback used it first (a replay). */
export async function consumeLogin(db: Db, state: string): Promise<boolean> {
  const { rowCount } = await db.query(
    "UPDATE sso_logins SET consumed_at = now() WHERE state = $1 AND consumed_at IS NULL AND expires_at >= now()",
    [state],
  );
  return (rowCount ?? 0) > 0;
}

export async function createSession(
  db: Db,
  user: { subject: string; email: string | null; ttlSeconds: number },
): Promise<SsoSession> {
  const token = randomBytes(32).toString("base64url");
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO sso_sessions (tenant_id, token_hash, subject, email, expires_at)
     VALUES (current_tenant_id(), decode($1, 'hex'), $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
    [hashToken(token), user.subject, user.email, user.ttlSeconds],
  );
  return { token, expiresAt: (rows[0] as { expires_at: Date }).expires_at };
}

/** The principal of a live session (not expired, not revoked, tenant enabled), or undefined. */
export async function sessionPrincipal(
  pool: pg.Pool,
  token: string,
): Promise<(Principal & { subject: string }) | undefined> {
  const hash = hashToken(token);
  return transaction(pool, async (db) => {
    await db.query("SELECT set_config('app.sso_session_hash', $1, true)", [hash]);
    const { rows } = await db.query<TenantPrincipalRow & { subject: string }>(
      `SELECT ${PRINCIPAL_COLUMNS}, s.subject
         FROM sso_sessions s JOIN tenants t ON t.id = s.tenant_id
        WHERE s.token_hash = decode($1, 'hex') AND s.revoked_at IS NULL AND s.expires_at > now()
          AND t.disabled_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    return row ? { ...principalOf(row), subject: row.subject } : undefined;
  });
}

/** Revokes one session of the tenant in context by its token; returns whether it was live. */
export async function revokeSession(db: Db, token: string): Promise<boolean> {
  const { rowCount } = await db.query(
    "UPDATE sso_sessions SET revoked_at = now() WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL",
    [hashToken(token)],
  );
  return (rowCount ?? 0) > 0;
}

/** Revokes every live session of the tenant in context; returns how many. */
export async function revokeAllSessions(db: Db): Promise<number> {
  const { rowCount } = await db.query(
    "UPDATE sso_sessions SET revoked_at = now() WHERE revoked_at IS NULL AND expires_at > now()",
  );
  return rowCount ?? 0;
}
