// Check-and-count in one statement: the usage row is locked by the upsert and the ceiling re-checked on
// the locked row, so N concurrent requests against a remaining allowance of k admit exactly k.
import type { Db } from "../db/pool.ts";
import type { Meter, MeterPeriod } from "./meters.ts";
import { periodBounds } from "./meters.ts";

export type MeterDecision = "admitted" | "overage" | "denied";

export interface MeterOutcome {
  meter: Meter;
  decision: MeterDecision;
  /** Units used in the period after this request (unchanged when denied). */
  used: number;
  included: number;
  ceiling: number;
  overageAllowed: boolean;
  period: MeterPeriod;
  periodStart: Date;
  resetsAt: Date;
}

export class NoEntitlementError extends Error {
  readonly meter: Meter;
  constructor(meter: Meter) {
    super(`This account has no entitlement for the ${meter} meter.`);
    this.meter = meter;
  }
}

const CONSUME_SQL = `
WITH ent AS (
  SELECT period, included, hard_ceiling, overage_allowed,
         date_trunc(CASE period WHEN 'day' THEN 'day' ELSE 'month' END, now(), 'UTC') AS period_start
    FROM entitlements
   WHERE tenant_id = current_tenant_id() AND meter = $1
), counted AS (
  INSERT INTO usage_counters AS u (tenant_id, meter, period_start, used)
  SELECT current_tenant_id(), $1, ent.period_start, $2::bigint FROM ent WHERE $2::bigint <= ent.hard_ceiling
  ON CONFLICT (tenant_id, meter, period_start) DO UPDATE
     SET used = u.used + excluded.used, updated_at = now()
   WHERE u.used + excluded.used <= (SELECT hard_ceiling FROM ent)
  RETURNING u.used
)
SELECT ent.period, ent.included, ent.hard_ceiling, ent.overage_allowed, ent.period_start,
       (SELECT used FROM counted) AS used_after,
       (SELECT used FROM usage_counters
         WHERE tenant_id = current_tenant_id() AND meter = $1 AND period_start = ent.period_start) AS used_before
  FROM ent`;

interface ConsumeRow {
  period: MeterPeriod;
  included: number;
  hard_ceiling: number;
  overage_allowed: boolean;
  period_start: Date;
  used_after: number | null;
  used_before: number | null;
}

/** Counts `quantity` units of `meter` for the tenant in context, or denies without counting. */
export async function consume(db: Db, meter: Meter, quantity = 1): Promise<MeterOutcome> {
  const { rows } = await db.query<ConsumeRow>({
    name: "meter-consume",
    text: CONSUME_SQL,
    values: [meter, quantity],
  });
  const row = rows[0];
  if (!row) throw new NoEntitlementError(meter);
  const { resetsAt } = periodBounds(row.period, row.period_start);
  const admitted = row.used_after !== null;
  const used = admitted ? (row.used_after as number) : (row.used_before ?? 0);
  return {
    meter,
    decision: !admitted ? "denied" : used > row.included ? "overage" : "admitted",
    used,
    included: row.included,
    ceiling: row.hard_ceiling,
    overageAllowed: row.overage_allowed,
    period: row.period,
    periodStart: row.period_start,
    resetsAt,
  };
}
