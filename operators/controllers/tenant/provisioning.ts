// Set-based provisioning: the database work of many tenant reconciles in one transaction (tenant
// rows, entitlement rows, rate limits, usage counters), and a Plan's change written to the entitlements of every
// tenant on it at once. The reconciler submits through a Batcher, so a cold start of 10,000 tenants
// costs a few dozen transactions rather than 10,000, while a lone change still runs at once.
import type pg from "pg";
import { transaction, type Db } from "../../../app/db/pool.ts";
import type { EffectiveRateLimits, Entitlement, Tenant } from "../../api/tenant.ts";
import { syncTenantRateLimits } from "../ratelimit/store.ts";
import { findTenantIds, readUsageCountersOf, syncEntitlements, syncTenantRows } from "./store.ts";
import type { UsageCounter } from "./usage.ts";

export interface TenantProvisioning {
  tenant: Tenant;
  entitlements: readonly Entitlement[];
  /** The tenant's effective rate limits (ratelimit/effective.ts), written to tenant_rate_limits. */
  rateLimits: EffectiveRateLimits;
  /** Usage counters from this period start on are reported. */
  usageSince: Date;
}

export interface TenantProvisioned {
  tenantId: string;
  /** Entitlement rows this batch wrote or deleted for the tenant. */
  changedRows: number;
  counters: UsageCounter[];
}

export function provisionTenants(pool: pg.Pool, items: TenantProvisioning[]): Promise<TenantProvisioned[]> {
  return transaction(pool, async (db) => {
    const { rows } = await syncTenantRows(
      db,
      items.map((i) => i.tenant),
    );
    const ids = items.map((i) => rows.get(i.tenant.metadata.name)!.id);
    const changed = await syncEntitlements(db, new Map(items.map((item, n) => [ids[n]!, item.entitlements])));
    await syncTenantRateLimits(
      db,
      items.map((i) => ({ slug: i.tenant.metadata.name, limits: i.rateLimits })),
    );
    const since = new Date(Math.min(...items.map((i) => i.usageSince.getTime())));
    const counters = await readUsageCountersOf(db, ids, since);
    return items.map((item, n) => ({
      tenantId: ids[n]!,
      changedRows: changed.get(ids[n]!) ?? 0,
      counters: (counters.get(ids[n]!) ?? []).filter((c) => c.periodStart >= item.usageSince),
    }));
  });
}

/**
 * Writes the entitlements of every provisioned tenant on a plan (`desired`, by slug) in one upsert:
 * a plan change reaches 9,500 tenants' enforcement in one statement, before their reconciles report
 * it in status. Tenants without a row yet are left to their own reconcile. Returns rows written.
 */
export async function syncPlanEntitlements(
  db: Db,
  desired: ReadonlyMap<string, readonly Entitlement[]>,
): Promise<number> {
  const ids = await findTenantIds(db, [...desired.keys()]);
  const byId = new Map<string, readonly Entitlement[]>();
  for (const [slug, id] of ids) byId.set(id, desired.get(slug)!);
  const changed = await syncEntitlements(db, byId);
  return [...changed.values()].reduce((a, b) => a + b, 0);
}
