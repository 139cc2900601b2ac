// Usage against entitlements and the 80/90/100 % warning level. Pure.
import { METERS, WARNING_THRESHOLDS, type MeterName, type WarningLevel } from "../../api/meters.ts";
import type { Entitlement, MeterUsage } from "../../api/tenant.ts";

/** Start of the meter's current period in UTC: the first of the month, or midnight. */
export function periodStart(meter: MeterName, now: Date): Date {
  const period = METERS[meter].period;
  return period === "month"
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** Whole percent of the included quantity used; anything used of nothing included counts as 100. */
export function usagePercent(used: number, included: number): number {
  if (included <= 0) return used > 0 ? 100 : 0;
  return Math.floor((used * 100) / included);
}

export function warningLevel(percent: number): WarningLevel {
  let level: WarningLevel = 0;
  for (const threshold of WARNING_THRESHOLDS) if (percent >= threshold) level = threshold;
  return level;
}

export interface UsageCounter {
  meter: string;
  periodStart: Date;
  used: number;
}

/** Usage per entitled meter in its current period (counters of earlier periods are ignored). */
export function currentUsage(
  entitlements: readonly Entitlement[],
  counters: readonly UsageCounter[],
  now: Date,
): MeterUsage[] {
  return entitlements.map((entitlement) => {
    const start = periodStart(entitlement.meter, now);
    const used = counters
      .filter((c) => c.meter === entitlement.meter && c.periodStart.getTime() >= start.getTime())
      .reduce((sum, c) => sum + c.used, 0);
    const percent = usagePercent(used, entitlement.included);
    return {
      meter: entitlement.meter,
      periodStart: start.toISOString().replace(/\.\d{3}Z$/, "Z"),
      used,
      included: entitlement.included,
      percent,
      level: warningLevel(percent),
    };
  });
}
