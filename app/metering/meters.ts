// The meters a plan limits, and how a usage figure turns into a warning level.
export const METERS = ["quotes", "bulk_jobs", "directory_invites"] as const;
export type Meter = (typeof METERS)[number];
export type MeterPeriod = "day" | "month";

export const WARNING_THRESHOLDS = [80, 90, 100] as const;
export type WarningLevel = "none" | "80" | "90" | "100";

/** Percent of the included quantity used, one decimal. An allowance of 0 is fully used from the start. */
export function usagePercent(used: number, included: number): number {
  if (included <= 0) return used > 0 ? 100 : 0;
  return Math.round((used / included) * 1000) / 10;
}

export function warningLevel(percent: number): WarningLevel {
  for (const threshold of [...WARNING_THRESHOLDS].reverse()) {
    if (percent >= threshold) return String(threshold) as WarningLevel;
  }
  return "none";
}

/** Start of the metering period containing `at` and the start of the next (when the meter resets), UTC. */
export function periodBounds(period: MeterPeriod, at: Date): { start: Date; resetsAt: Date } {
  const y = at.getUTCFullYear();
  const mo = at.getUTCMonth();
  if (period === "day") {
    const d = at.getUTCDate();
    return { start: new Date(Date.UTC(y, mo, d)), resetsAt: new Date(Date.UTC(y, mo, d + 1)) };
  }
  return { start: new Date(Date.UTC(y, mo, 1)), resetsAt: new Date(Date.UTC(y, mo + 1, 1)) };
}
