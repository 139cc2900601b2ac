// The plan catalogue tables (plans, plan_meters, plan_rate_limits, plan_features) as written: one owner for their
// columns and conflict rules, imported by both writers, the seed (local platforms, tests, demos) and
// the tenant controller (mirroring Plan custom resources). Either may run first on a database, so
// every write is an upsert.
import type pg from "pg";
import type { PlanFeature, PlanMeter } from "./plans.ts";

type Queryable = pg.Pool | pg.ClientBase;

export interface PlanRow {
  id: string;
  name: string;
  rank: number;
  monthlyPriceCents: number;
}

export interface PlanRateLimits {
  requestsPerSecond: number;
  burst: number;
  bulkJobConcurrency: number;
}

export async function upsertPlan(db: Queryable, plan: PlanRow): Promise<void> {
  await db.query(
    `INSERT INTO plans (id, name, rank, monthly_price_cents) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, rank = excluded.rank, monthly_price_cents = excluded.monthly_price_cents`,
    [plan.id, plan.name, plan.rank, plan.monthlyPriceCents],
  );
}

/** The plan's meters as stored, by meter name. */
export async function readPlanMeters(db: Queryable, planId: string): Promise<Map<string, PlanMeter>> {
  const { rows } = await db.query<{
    meter: string;
    period: PlanMeter["period"];
    included: number;
    overage_allowed: boolean;
    overage_unit_price_cents: number | null;
    hard_ceiling: number;
  }>(
    "SELECT meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling FROM plan_meters WHERE plan_id = $1",
    [planId],
  );
  return new Map(
    rows.map((r) => [
      r.meter,
      {
        period: r.period,
        included: r.included,
        overageAllowed: r.overage_allowed,
        overageUnitPriceCents: r.overage_unit_price_cents,
        hardCeiling: r.hard_ceiling,
      },
    ]),
  );
}

export async function upsertPlanMeter(
  db: Queryable,
  planId: string,
  meter: string,
  m: PlanMeter,
): Promise<void> {
  await db.query(
    `INSERT INTO plan_meters (plan_id, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (plan_id, meter) DO UPDATE SET period = excluded.period, included = excluded.included,
       overage_allowed = excluded.overage_allowed, overage_unit_price_cents = excluded.overage_unit_price_cents,
       hard_ceiling = excluded.hard_ceiling`,
    [planId, meter, m.period, m.included, m.overageAllowed, m.overageUnitPriceCents, m.hardCeiling],
  );
}

export async function deletePlanMeters(db: Queryable, planId: string, meters: string[]): Promise<void> {
  await db.query("DELETE FROM plan_meters WHERE plan_id = $1 AND meter = ANY($2)", [planId, meters]);
}

export async function upsertPlanRateLimits(db: Queryable, planId: string, r: PlanRateLimits): Promise<void> {
  await db.query(
    `INSERT INTO plan_rate_limits (plan_id, requests_per_second, burst, bulk_job_concurrency) VALUES ($1, $2, $3, $4)
     ON CONFLICT (plan_id) DO UPDATE SET requests_per_second = excluded.requests_per_second, burst = excluded.burst,
       bulk_job_concurrency = excluded.bulk_job_concurrency`,
    [planId, r.requestsPerSecond, r.burst, r.bulkJobConcurrency],
  );
}

/** The features the plan unlocks, as stored. */
export async function readPlanFeatures(db: Queryable, planId: string): Promise<Set<string>> {
  const { rows } = await db.query<{ feature: string }>(
    "SELECT feature FROM plan_features WHERE plan_id = $1",
    [planId],
  );
  return new Set(rows.map((r) => r.feature));
}

/** Makes the plan's stored features exactly `features`; returns whether anything changed. */
export async function setPlanFeatures(
  db: Queryable,
  planId: string,
  features: readonly PlanFeature[],
): Promise<boolean> {
  const removed = await db.query(
    "DELETE FROM plan_features WHERE plan_id = $1 AND NOT (feature = ANY($2::text[]))",
    [planId, features],
  );
  const added = await db.query(
    `INSERT INTO plan_features (plan_id, feature) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
    [planId, features],
  );
  return (removed.rowCount ?? 0) + (added.rowCount ?? 0) > 0;
}
