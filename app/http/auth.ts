// API key authentication. Keys are stored as SHA-256 hashes; the plaintext is shown once at creation.
// A small cache keeps the lookup off the hot path; disabled keys stop working within its TTL.
import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { transaction } from "../db/pool.ts";
import { Problem } from "./problem.ts";

export interface Principal {
  tenantId: string;
  tenantSlug: string;
  planId: string;
  billingStatus: string;
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

export function principalOf(row: TenantPrincipalRow): Principal {
  return {
    tenantId: row.id,
    tenantSlug: row.slug,
    planId: row.plan_id,
    billingStatus: row.billing_status,
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

export class Authenticator {
  readonly #pool: pg.Pool;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { principal: Principal | null; expires: number }>();

  constructor(pool: pg.Pool, cacheSeconds: number) {
    this.#pool = pool;
    this.#ttlMs = cacheSeconds * 1000;
  }

  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) {
      throw unauthorized(
        "Send your API key as 'Authorization: Bearer <key>'. Keys are issued per tenant by ops.",
      );
    }
    if (!KEY_PATTERN.test(key)) throw unauthorized("The API key is malformed; keys look like fk_live_... .");
    const hash = hashApiKey(key);
    const now = Date.now();
    const cached = this.#cache.get(hash);
    let principal: Principal | null;
    if (cached && cached.expires > now) {
      principal = cached.principal;
    } else {
      principal = await this.#lookup(hash);
      if (this.#ttlMs > 0) {
        if (this.#cache.size > 10_000) this.#cache.clear();
        this.#cache.set(hash, { principal, expires: now + this.#ttlMs });
      }
    }
    if (!principal) throw unauthorized("The API key is unknown or has been disabled.");
    return principal;
  }

  async #lookup(hash: string): Promise<Principal | null> {
    return transaction(this.#pool, async (db) => {
      await db.query("SELECT set_config('app.api_key_hash', $1, true)", [hash]);
      const { rows } = await db.query<TenantPrincipalRow>(
        `SELECT ${PRINCIPAL_COLUMNS}
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
          WHERE k.key_hash = decode($1, 'hex') AND k.disabled_at IS NULL AND t.disabled_at IS NULL`,
        [hash],
      );
      const row = rows[0];
      return row ? principalOf(row) : null;
    });
  }
}
