// The tenant controller's reads and writes of the app database, as the freight_operator role.
// Every write compares with what is stored first and touches only rows that differ, so a steady
// state costs reads only, and a reconcile interrupted at any line is simply done again.
import type pg from "pg";
import {
  deletePlanMeters,
  readPlanFeatures,
  readPlanMeters,
  setPlanFeatures,
  upsertPlan,
  upsertPlanMeter,
  upsertPlanRateLimits,
} from "../../../app/db/plan-rows.ts";
import { transaction, type Db } from "../../../app/db/pool.ts";
import { METERS } from "../../api/meters.ts";
import { enabledFeatures, type Plan } from "../../api/plan.ts";
import type { Entitlement, Tenant } from "../../api/tenant.ts";
import type { UsageCounter } from "./usage.ts";

export interface TenantRow {
  id: string;
  slug: string;
  name: string;
  plan_id: string;
  billing_status: string;
  data_residency_region: string | null;
  disabled_at: Date | null;
  declared: boolean;
}

/** Mirrors a Plan into plans/plan_meters/plan_rate_limits/plan_features (tenants.plan_id references it). */
export async function syncPlanRows(db: Db, plan: Plan): Promise<number> {
  const id = plan.metadata.name;
  const spec = plan.spec;
  let changed = 0;
  const { rows: planRows } = await db.query<{ name: string; rank: number; monthly_price_cents: number }>(
    "SELECT name, rank, monthly_price_cents FROM plans WHERE id = $1",
    [id],
  );
  const current = planRows[0];
  const price = spec.monthlyPriceCents ?? 0;
  if (
    !current ||
    current.name !== spec.displayName ||
    current.rank !== spec.rank ||
    current.monthly_price_cents !== price
  ) {
    await upsertPlan(db, { id, name: spec.displayName, rank: spec.rank, monthlyPriceCents: price });
    changed++;
  }
  const stored = await readPlanMeters(db, id);
  for (const meter of spec.meters) {
    const desired = {
      period: METERS[meter.name].period,
      included: meter.included,
      overageAllowed: meter.overageAllowed,
      overageUnitPriceCents: meter.overageAllowed ? (meter.overageUnitPriceCents ?? null) : null,
      hardCeiling: meter.hardCeiling,
    };
    const row = stored.get(meter.name);
    if (
      row &&
      row.period === desired.period &&
      row.included === desired.included &&
      row.overageAllowed === desired.overageAllowed &&
      row.overageUnitPriceCents === desired.overageUnitPriceCents &&
      row.hardCeiling === desired.hardCeiling
    ) {
      continue;
    }
    await upsertPlanMeter(db, id, meter.name, desired);
    changed++;
  }
  const gone = [...stored.keys()].filter((name) => !spec.meters.some((m) => m.name === name));
  if (gone.length) {
    await deletePlanMeters(db, id, gone);
    changed++;
  }
  const { rows: limitRows } = await db.query<{
    requests_per_second: number;
    burst: number;
    bulk_job_concurrency: number;
  }>("SELECT requests_per_second, burst, bulk_job_concurrency FROM plan_rate_limits WHERE plan_id = $1", [
    id,
  ]);
  const limits = spec.rateLimits;
  const row = limitRows[0];
  if (
    limits &&
    (!row ||
      row.requests_per_second !== limits.requestsPerSecond ||
      row.burst !== limits.burst ||
      row.bulk_job_concurrency !== limits.bulkJobConcurrency)
  ) {
    await upsertPlanRateLimits(db, id, limits);
    changed++;
  } else if (!limits && row) {
    await db.query("DELETE FROM plan_rate_limits WHERE plan_id = $1", [id]);
    changed++;
  }
  const features = enabledFeatures(spec.features);
  const storedFeatures = await readPlanFeatures(db, id);
  if (storedFeatures.size !== features.length || features.some((f) => !storedFeatures.has(f))) {
    if (await setPlanFeatures(db, id, features)) changed++;
  }
  return changed;
}

interface TenantRowDesired {
  slug: string;
  name: string;
  plan_id: string;
  billing_status: string;
  data_residency_region: string | null;
}

function desiredTenantRow(tenant: Tenant): TenantRowDesired {
  const slug = tenant.metadata.name;
  return {
    slug,
    name: tenant.spec.displayName ?? slug,
    plan_id: tenant.spec.plan,
    billing_status: tenant.spec.billingStatus ?? "active",
    data_residency_region: tenant.spec.dataResidencyRegion ?? null,
  };
}

/**
 * Creates the tenant rows on first sight, then keeps name, plan, billing status and residency in
 * step with the specs, for many tenants in two statements. A tenant re-created after offboarding is
 * enabled again (its old API keys stay disabled: new keys must be issued).
 */
export async function syncTenantRows(
  db: Db,
  tenants: readonly Tenant[],
): Promise<{ rows: Map<string, TenantRow>; changed: number }> {
  const desired = tenants.map(desiredTenantRow);
  const { rows } = await db.query<TenantRow>(
    "SELECT id, slug, name, plan_id, billing_status, data_residency_region, disabled_at, declared FROM tenants WHERE slug = ANY($1)",
    [desired.map((d) => d.slug)],
  );
  const bySlug = new Map(rows.map((r) => [r.slug, r]));
  const stale = desired.filter((d) => {
    const row = bySlug.get(d.slug);
    return !(
      row &&
      row.name === d.name &&
      row.plan_id === d.plan_id &&
      row.billing_status === d.billing_status &&
      row.data_residency_region === d.data_residency_region &&
      row.disabled_at === null &&
      row.declared
    );
  });
  if (stale.length) {
    const { rows: written } = await db.query<TenantRow>(
      `INSERT INTO tenants (slug, name, plan_id, billing_status, data_residency_region, declared)
       SELECT d.slug, d.name, d.plan_id, d.billing_status, d.data_residency_region, true
         FROM jsonb_to_recordset($1::jsonb) AS d(slug text, name text, plan_id text, billing_status text, data_residency_region text)
       ON CONFLICT (slug) DO UPDATE SET name = excluded.name, plan_id = excluded.plan_id, billing_status = excluded.billing_status,
         data_residency_region = excluded.data_residency_region, disabled_at = NULL, declared = true
       RETURNING id, slug, name, plan_id, billing_status, data_residency_region, disabled_at, declared`,
      [JSON.stringify(stale)],
    );
    for (const row of written) bySlug.set(row.slug, row);
  }
  return { rows: bySlug, changed: stale.length };
}

interface EntitlementRow {
  tenant_id: string;
  meter: string;
  period: string;
  included: number;
  overage_allowed: boolean;
  overage_unit_price_cents: number | null;
  hard_ceiling: number;
  source: string;
}

function sameEntitlement(row: EntitlementRow | undefined, e: Entitlement): boolean {
  return (
    row !== undefined &&
    row.period === e.period &&
    row.included === e.included &&
    row.overage_allowed === e.overageAllowed &&
    row.overage_unit_price_cents === (e.overageUnitPriceCents ?? null) &&
    row.hard_ceiling === e.hardCeiling &&
    row.source === e.source
  );
}

/**
 * Makes each tenant's entitlement rows equal its desired ones, for any number of tenants in one
 * read, one upsert and one delete; returns how many rows it wrote or deleted per tenant id.
 */
export async function syncEntitlements(
  db: Db,
  desired: ReadonlyMap<string, readonly Entitlement[]>,
): Promise<Map<string, number>> {
  const changed = new Map<string, number>([...desired.keys()].map((id) => [id, 0]));
  if (!desired.size) return changed;
  const { rows } = await db.query<EntitlementRow>(
    `SELECT tenant_id, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling, source
       FROM entitlements WHERE tenant_id = ANY($1::uuid[])`,
    [[...desired.keys()]],
  );
  const stored = new Map<string, EntitlementRow>(rows.map((r) => [`${r.tenant_id}/${r.meter}`, r]));
  const upserts: Record<string, unknown>[] = [];
  const gone: { tenantId: string; meter: string }[] = [];
  for (const [tenantId, entitlements] of desired) {
    for (const e of entitlements) {
      if (sameEntitlement(stored.get(`${tenantId}/${e.meter}`), e)) continue;
      upserts.push({
        tenant_id: tenantId,
        meter: e.meter,
        period: e.period,
        included: e.included,
        overage_allowed: e.overageAllowed,
        overage_unit_price_cents: e.overageUnitPriceCents ?? null,
        hard_ceiling: e.hardCeiling,
        source: e.source,
      });
    }
  }
  for (const row of rows) {
    if (!desired.get(row.tenant_id)!.some((e) => e.meter === row.meter))
      gone.push({ tenantId: row.tenant_id, meter: row.meter });
  }
  const count = (written: { tenant_id: string }[]) => {
    for (const { tenant_id } of written) changed.set(tenant_id, (changed.get(tenant_id) ?? 0) + 1);
  };
  if (upserts.length) {
    // The WHERE makes a concurrent identical write (another batch, a plan-wide update) a no-op.
    const result = await db.query<{ tenant_id: string }>(
      `INSERT INTO entitlements AS t (tenant_id, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling, source, updated_at)
       SELECT e.tenant_id, e.meter, e.period, e.included, e.overage_allowed, e.overage_unit_price_cents, e.hard_ceiling, e.source, now()
         FROM jsonb_to_recordset($1::jsonb) AS e(tenant_id uuid, meter text, period text, included bigint, overage_allowed boolean,
                                                overage_unit_price_cents integer, hard_ceiling bigint, source text)
       ON CONFLICT (tenant_id, meter) DO UPDATE SET period = excluded.period, included = excluded.included,
         overage_allowed = excluded.overage_allowed, overage_unit_price_cents = excluded.overage_unit_price_cents,
         hard_ceiling = excluded.hard_ceiling, source = excluded.source, updated_at = now()
       WHERE (t.period, t.included, t.overage_allowed, t.overage_unit_price_cents, t.hard_ceiling, t.source)
         IS DISTINCT FROM (excluded.period, excluded.included, excluded.overage_allowed, excluded.overage_unit_price_cents,
                           excluded.hard_ceiling, excluded.source)
       RETURNING t.tenant_id`,
      [JSON.stringify(upserts)],
    );
    count(result.rows);
  }
  if (gone.length) {
    const result = await db.query<{ tenant_id: string }>(
      `DELETE FROM entitlements e USING unnest($1::uuid[], $2::text[]) AS g(tenant_id, meter)
        WHERE e.tenant_id = g.tenant_id AND e.meter = g.meter RETURNING e.tenant_id`,
      [gone.map((g) => g.tenantId), gone.map((g) => g.meter)],
    );
    count(result.rows);
  }
  return changed;
}

/** The ids of the enabled tenant rows among `slugs` (tenants not provisioned yet are absent). */
export async function findTenantIds(
  db: Db | pg.Pool,
  slugs: readonly string[],
): Promise<Map<string, string>> {
  if (!slugs.length) return new Map();
  const { rows } = await db.query<{ id: string; slug: string }>(
    "SELECT id, slug FROM tenants WHERE slug = ANY($1) AND disabled_at IS NULL",
    [slugs],
  );
  return new Map(rows.map((r) => [r.slug, r.id]));
}

/** Usage counters of many tenants since `since`, by tenant id. */
export async function readUsageCountersOf(
  db: Db | pg.Pool,
  tenantIds: readonly string[],
  since: Date,
): Promise<Map<string, UsageCounter[]>> {
  const byTenant = new Map<string, UsageCounter[]>(tenantIds.map((id) => [id, []]));
  const { rows } = await db.query<{ tenant_id: string; meter: string; period_start: Date; used: number }>(
    "SELECT tenant_id, meter, period_start, used FROM usage_counters WHERE tenant_id = ANY($1::uuid[]) AND period_start >= $2",
    [tenantIds, since],
  );
  for (const r of rows)
    byTenant.get(r.tenant_id)?.push({ meter: r.meter, periodStart: r.period_start, used: Number(r.used) });
  return byTenant;
}

export interface OffboardResult {
  tenantId: string | undefined;
  keysDisabled: number;
  exportRequested: boolean;
}

/**
 * Offboards a deleted tenant in one transaction: disables the tenant and its API keys and queues
 * one data-export task. The export's dedupe key names the Tenant object's uid, so repeating this
 * after a crash queues nothing new, while a later tenant with the same slug gets its own export.
 */
export async function offboardTenant(pool: pg.Pool, tenant: Tenant): Promise<OffboardResult> {
  return transaction(pool, async (db) => {
    const { rows } = await db.query<{ id: string }>("SELECT id FROM tenants WHERE slug = $1 FOR UPDATE", [
      tenant.metadata.name,
    ]);
    const tenantId = rows[0]?.id;
    if (!tenantId) return { tenantId, keysDisabled: 0, exportRequested: false };
    const keys = await db.query(
      "UPDATE api_keys SET disabled_at = now() WHERE tenant_id = $1 AND disabled_at IS NULL",
      [tenantId],
    );
    await db.query("UPDATE tenants SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", [
      tenantId,
    ]);
    const exported = await db.query(
      `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
       VALUES ($1, 'data_export', $2, $3) ON CONFLICT (dedupe_key) DO NOTHING`,
      [
        tenantId,
        JSON.stringify({
          reason: "tenant deleted",
          slug: tenant.metadata.name,
          namespace: tenant.metadata.namespace,
          tenantUid: tenant.metadata.uid,
        }),
        `data_export:${tenantId}:${tenant.metadata.uid}`,
      ],
    );
    return { tenantId, keysDisabled: keys.rowCount ?? 0, exportRequested: (exported.rowCount ?? 0) > 0 };
  });
}

/** The slugs of enabled tenants: the database's side of the sweep's comparison (sweep.ts). */
/** The enabled tenants a Tenant object declared (the only ones the sweep may offboard). */
export async function enabledTenantSlugs(db: Db | pg.Pool): Promise<string[]> {
  const { rows } = await db.query<{ slug: string }>(
    "SELECT slug FROM tenants WHERE disabled_at IS NULL AND declared",
  );
  return rows.map((r) => r.slug);
}

export interface SweptTenant {
  slug: string;
  tenantId: string;
  keysDisabled: number;
}

/**
 * Offboards, in one transaction of a few set-based statements, the enabled tenants among `slugs`
 * for which `absent` still holds once their rows are locked: disabled, API keys disabled, one
 * data export each. The lock is what makes the check safe against a Tenant recreated meanwhile:
 * provisioning it writes the same row and waits for us, and once it is in the cache we skip it.
 */
export function offboardAbsentTenants(
  pool: pg.Pool,
  slugs: readonly string[],
  absent: (slug: string) => boolean,
): Promise<SweptTenant[]> {
  return transaction(pool, async (db) => {
    const { rows: locked } = await db.query<{ id: string; slug: string }>(
      "SELECT id, slug FROM tenants WHERE slug = ANY($1) AND disabled_at IS NULL AND declared FOR UPDATE",
      [slugs],
    );
    const ids = locked.filter((r) => absent(r.slug)).map((r) => r.id);
    if (!ids.length) return [];
    const { rows } = await db.query<{ id: string; slug: string; keys_disabled: number }>(
      `WITH gone AS (
         UPDATE tenants SET disabled_at = now() WHERE id = ANY($1::uuid[]) RETURNING id, slug, disabled_at
       ), keys AS (
         UPDATE api_keys k SET disabled_at = now() FROM gone
          WHERE k.tenant_id = gone.id AND k.disabled_at IS NULL RETURNING k.tenant_id
       ), exports AS (
         INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
         SELECT id, 'data_export',
                jsonb_build_object('reason', 'tenant deleted while the operators were not running', 'slug', slug),
                'data_export:' || id || ':swept:' || extract(epoch FROM disabled_at)
           FROM gone ON CONFLICT (dedupe_key) DO NOTHING RETURNING tenant_id
       )
       SELECT gone.id, gone.slug,
              (SELECT count(*) FROM keys WHERE keys.tenant_id = gone.id)::int AS keys_disabled
         FROM gone`,
      [ids],
    );
    return rows.map((r) => ({ slug: r.slug, tenantId: r.id, keysDisabled: r.keys_disabled }));
  });
}
