// Reference data (plans, carriers) and tenant provisioning for local platforms, tests and demos.
// Runs as the operator role: the same rights the tenant controller uses, no bypass of row security.
import type pg from "pg";
import { generateApiKey } from "../http/auth.ts";
import { METERS } from "../metering/meters.ts";
import { transaction } from "./pool.ts";
import { setPlanFeatures, upsertPlan, upsertPlanMeter, upsertPlanRateLimits } from "./plan-rows.ts";
import { DEFAULT_PLANS, type PlanDefinition } from "./plans.ts";
import { CARRIERS } from "./carriers.ts";

export async function seedPlans(operator: pg.Pool, plans: PlanDefinition[] = DEFAULT_PLANS): Promise<void> {
  await transaction(operator, async (db) => {
    for (const plan of plans) {
      await upsertPlan(db, plan);
      for (const meter of METERS) await upsertPlanMeter(db, plan.id, meter, plan.meters[meter]);
      await upsertPlanRateLimits(db, plan.id, plan.rateLimits);
      await setPlanFeatures(db, plan.id, plan.features);
    }
  });
}

export async function seedCarriers(operator: pg.Pool): Promise<void> {
  await operator.query(
    `INSERT INTO carriers (name, mc_number, dot_number, home_state, equipment, fleet_size, safety_rating)
     SELECT * FROM jsonb_to_recordset($1::jsonb)
       AS c(name text, mc_number text, dot_number text, home_state text, equipment text[], fleet_size int, safety_rating text)
     ON CONFLICT (mc_number) DO NOTHING`,
    [JSON.stringify(CARRIERS)],
  );
}

export interface ProvisionedTenant {
  tenantId: string;
  slug: string;
  apiKey: string;
}

/**
 * Creates a tenant on a plan with the plan's limits as its effective entitlements and one API key.
 * In a cluster the tenant controller owns entitlements; this is the bootstrap for databases without one.
 */
export async function provisionTenant(
  operator: pg.Pool,
  tenant: { slug: string; name: string; planId: string; billingStatus?: string },
): Promise<ProvisionedTenant> {
  const key = generateApiKey("live");
  return transaction(operator, async (db) => {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO tenants (slug, name, plan_id, billing_status) VALUES ($1, $2, $3, $4) RETURNING id`,
      [tenant.slug, tenant.name, tenant.planId, tenant.billingStatus ?? "active"],
    );
    const tenantId = (rows[0] as { id: string }).id;
    await applyPlanEntitlements(db, tenantId, tenant.planId);
    await db.query(
      `INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, $2, decode($3, 'hex'), 'default')`,
      [tenantId, key.prefix, key.hash],
    );
    return { tenantId, slug: tenant.slug, apiKey: key.key };
  });
}

/** Sets a tenant's effective limits to its plan's (source 'plan'). */
export async function applyPlanEntitlements(
  db: pg.ClientBase,
  tenantId: string,
  planId: string,
): Promise<void> {
  const meters = await db.query(
    `INSERT INTO entitlements (tenant_id, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling, source)
     SELECT $1, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling, 'plan'
       FROM plan_meters WHERE plan_id = $2
     ON CONFLICT (tenant_id, meter) DO UPDATE SET period = excluded.period, included = excluded.included,
       overage_allowed = excluded.overage_allowed, overage_unit_price_cents = excluded.overage_unit_price_cents,
       hard_ceiling = excluded.hard_ceiling, source = 'plan', updated_at = now()`,
    [tenantId, planId],
  );
  if (!meters.rowCount)
    throw new Error(`Plan '${planId}' has no meters; seed the plan catalogue first (seedPlans).`);
  await db.query(
    `INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, burst, bulk_job_concurrency, source)
     SELECT $1, requests_per_second, burst, bulk_job_concurrency, 'plan' FROM plan_rate_limits WHERE plan_id = $2
     ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = excluded.requests_per_second, burst = excluded.burst,
       bulk_job_concurrency = excluded.bulk_job_concurrency, source = 'plan', updated_at = now()`,
    [tenantId, planId],
  );
}

export const DEMO_TENANTS = [
  { slug: "acme-logistics", name: "Acme Logistics", planId: "starter" },
  { slug: "globex-freight", name: "Globex Freight", planId: "pro" },
  { slug: "initech-shipping", name: "Initech Shipping", planId: "enterprise" },
];

export async function seedDemo(operator: pg.Pool): Promise<Record<string, string>> {
  await seedPlans(operator);
  await seedCarriers(operator);
  const keys: Record<string, string> = {};
  for (const tenant of DEMO_TENANTS) keys[tenant.slug] = (await provisionTenant(operator, tenant)).apiKey;
  return keys;
}
