// API key authentication and scopes. Keys are stored as SHA-256 hashes behind a visible prefix; the
// plaintext is shown once at creation. A per-replica cache keeps the lookup off the hot path, and is
// trusted only while this replica listens for 'api_key_changed' (auth-invalidation.ts): a revocation
// then reaches every replica within a notification's delay, and the cache TTL bounds a missed one.
import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { transaction } from "../db/pool.ts";
import { Problem } from "./problem.ts";

export const SCOPES = ["read", "quote", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  tenantId: string;
  tenantSlug: string;
  planId: string;
  billingStatus: string;
  /** The API key the caller presented; null for an SSO session. */
  keyId: string | null;
  scopes: Scope[];
  /** The features of the tenant's plan (plan_features), cached with the key: enforcement reads no table. */
  features: ReadonlySet<string>;
  /** The region the tenant is pinned to (Tenant spec.dataResidencyRegion), or null. */
  dataResidencyRegion: string | null;
  /** The last pickup day any contract rate of the tenant covers (YYYY-MM-DD), or null: no lookup needed. */
  contractRatesUntil: string | null;
}

/** The tenant columns a principal is made of (tenants as t), for every way a caller authenticates. */
export const PRINCIPAL_COLUMNS = `t.id, t.slug, t.plan_id, t.billing_status, t.data_residency_region, t.contract_rates_until,
  ARRAY(SELECT f.feature FROM plan_features f WHERE f.plan_id = t.plan_id) AS features`;

export interface TenantPrincipalRow {
  id: string;
  slug: string;
  plan_id: string;
  billing_status: string;
  data_residency_region: string | null;
  contract_rates_until: string | null;
  features: string[];
}

/**
 * The principal a tenant row stands for, with the credential it came with: an API key (its id and
 * scopes), or an SSO session (no key; read only).
 */
export function principalOf(
  row: TenantPrincipalRow,
  credential: { keyId: string | null; scopes: Scope[] } = { keyId: null, scopes: ["read"] },
): Principal {
  return {
    tenantId: row.id,
    tenantSlug: row.slug,
    planId: row.plan_id,
    billingStatus: row.billing_status,
    keyId: credential.keyId,
    scopes: credential.scopes,
    features: new Set(row.features),
    dataResidencyRegion: row.data_residency_region,
    contractRatesUntil: row.contract_rates_until,
  };
}

const KEY_PATTERN = /^fk_(live|test)_[A-Za-z0-9_-]{32,64}$/;

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function generateApiKey(mode: "live" | "test" = "live"): {
  key: string;
  prefix: string;
  hash: string;
} {
  const key = `fk_${mode}_${randomBytes(24).toString("base64url")}`;
  return { key, prefix: key.slice(0, 12), hash: hashApiKey(key) };
}

function unauthorized(detail: string): Problem {
  return new Problem(
    { type: "unauthorized", title: "Missing or invalid API key", status: 401, detail },
    { "www-authenticate": 'Bearer realm="freight"' },
  );
}

/** Reads the key from `Authorization: Bearer <key>` or `X-API-Key`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === "string" && /^bearer\s+/i.test(authorization)) {
    return authorization.replace(/^bearer\s+/i, "").trim();
  }
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" ? apiKey.trim() : undefined;
}

/** The scope a route needs: its own `config.scope`, else read for GET/HEAD and quote for the rest. */
export function requiredScope(method: string, routeScope: unknown): Scope {
  if (typeof routeScope === "string" && (SCOPES as readonly string[]).includes(routeScope))
    return routeScope as Scope;
  return method === "GET" || method === "HEAD" ? "read" : "quote";
}

/** 403 naming the scope the request needs, when the key lacks it. */
export function requireScope(principal: Principal, scope: Scope, what: string): void {
  if (principal.scopes.includes(scope)) return;
  throw new Problem({
    type: "insufficient-scope",
    title: "API key lacks a scope",
    status: 403,
    detail:
      `${what} needs the '${scope}' scope; this key has ${principal.scopes.map((s) => `'${s}'`).join(", ")}. ` +
      `Use a key with '${scope}', or create one with POST /v1/api-keys (an 'admin' key can).`,
    requiredScope: scope,
    keyScopes: principal.scopes,
  });
}

/** What a key's lookup found: a principal, or why it does not authenticate. */
type Lookup =
  | { kind: "principal"; principal: Principal; keyExpiresAt: number | null }
  | { kind: "awaiting-verification"; keyId: string; tenantId: string }
  | { kind: "unknown" };

interface CacheEntry {
  lookup: Lookup;
  expires: number;
}

/** Where a principal was seen, for last_used_at (key-usage.ts); called on every authenticated request. */
export type KeyUseListener = (principal: Principal, at: number) => void;

export class Authenticator {
  readonly #pool: pg.Pool;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, CacheEntry>();
  #trusted = false;
  #onUse: KeyUseListener | undefined;

  constructor(pool: pg.Pool, cacheSeconds: number) {
    this.#pool = pool;
    this.#ttlMs = cacheSeconds * 1000;
  }

  /** Every successful authentication is reported here (last_used_at batching). */
  onUse(listener: KeyUseListener): void {
    this.#onUse = listener;
  }

  /**
   * Whether cached lookups may be used: only while change notifications are being received. A
   * replica that lost its LISTEN connection looks every key up until it listens again.
   */
  setCacheTrusted(trusted: boolean): void {
    this.#trusted = trusted;
    if (!trusted) this.#cache.clear();
  }

  /** Drops what a change notification names: "key:<id>", "tenant:<id>", or anything else for all. */
  invalidate(change: string): void {
    const [what, id] = change.split(":", 2);
    if ((what !== "key" && what !== "tenant") || !id) {
      this.#cache.clear();
      return;
    }
    for (const [hash, entry] of this.#cache) {
      const lookup = entry.lookup;
      const keyId =
        lookup.kind === "principal"
          ? lookup.principal.keyId
          : lookup.kind === "awaiting-verification"
            ? lookup.keyId
            : undefined;
      const tenantId =
        lookup.kind === "principal"
          ? lookup.principal.tenantId
          : lookup.kind === "awaiting-verification"
            ? lookup.tenantId
            : undefined;
      if ((what === "key" && keyId === id) || (what === "tenant" && tenantId === id))
        this.#cache.delete(hash);
    }
  }

  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) {
      throw unauthorized(
        "Send your API key as 'Authorization: Bearer <key>'. Sign up with POST /v1/signup to get one.",
      );
    }
    if (!KEY_PATTERN.test(key)) throw unauthorized("The API key is malformed; keys look like fk_live_... .");
    const hash = hashApiKey(key);
    const now = Date.now();
    const cached = this.#trusted ? this.#cache.get(hash) : undefined;
    let lookup: Lookup;
    if (cached && cached.expires > now) {
      lookup = cached.lookup;
    } else {
      lookup = await this.#lookup(hash);
      if (this.#ttlMs > 0 && this.#trusted) {
        if (this.#cache.size > 10_000) this.#cache.clear();
        // A rotated-out key stops at its grace period's end, not up to a TTL later.
        const until =
          lookup.kind === "principal" && lookup.keyExpiresAt !== null
            ? Math.min(now + this.#ttlMs, lookup.keyExpiresAt)
            : now + this.#ttlMs;
        this.#cache.set(hash, { lookup, expires: until });
      }
    }
    if (lookup.kind === "awaiting-verification") {
      throw new Problem({
        type: "email-not-verified",
        title: "Email not verified yet",
        status: 403,
        detail:
          "This key belongs to a signup whose email address is not verified. Open the link we emailed at signup; the key works from then on.",
      });
    }
    if (lookup.kind === "unknown")
      throw unauthorized(
        "The API key is unknown, revoked or expired (a rotated key stops when its grace period ends). Use a current key.",
      );
    this.#onUse?.(lookup.principal, now);
    return lookup.principal;
  }

  async #lookup(hash: string): Promise<Lookup> {
    return transaction(this.#pool, async (db) => {
      await db.query("SELECT set_config('app.api_key_hash', $1, true)", [hash]);
      const { rows } = await db.query<
        TenantPrincipalRow & {
          key_id: string;
          scopes: Scope[];
          expires_at: Date | null;
          awaiting_verification: boolean;
        }
      >(
        `SELECT k.id AS key_id, k.scopes, k.expires_at, k.awaiting_verification, ${PRINCIPAL_COLUMNS}
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
          WHERE k.key_hash = decode($1, 'hex') AND k.disabled_at IS NULL AND t.disabled_at IS NULL
            AND (k.expires_at IS NULL OR k.expires_at > now())`,
        [hash],
      );
      const row = rows[0];
      if (!row) return { kind: "unknown" };
      if (row.awaiting_verification)
        return { kind: "awaiting-verification", keyId: row.key_id, tenantId: row.id };
      return {
        kind: "principal",
        keyExpiresAt: row.expires_at ? row.expires_at.getTime() : null,
        principal: principalOf(row, { keyId: row.key_id, scopes: row.scopes }),
      };
    });
  }
}
