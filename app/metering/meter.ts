// Check-and-count in one statement (the meter_consume SQL function): the usage row is locked by the
// upsert and the ceiling re-checked on the locked row, so N concurrent requests against a remaining
// allowance of k admit exactly k.
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

export interface ConsumeRow {
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
    text: "SELECT * FROM meter_consume($1, $2)",
    values: [meter, quantity],
  });
  const row = rows[0];
  if (!row) throw new NoEntitlementError(meter);
  return outcomeOf(meter, row);
}

/** The decision a meter_consume row stands for. */
export function outcomeOf(meter: Meter, row: ConsumeRow): MeterOutcome {
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
