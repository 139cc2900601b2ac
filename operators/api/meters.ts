// The meters the app enforces, and the period each one resets on. The database checks the same
// names (app/db/migrations/0001_foundation.sql); a meter is added in both places or not at all.
export const METERS = {
  quotes: { period: "month" },
  bulk_jobs: { period: "day" },
  directory_invites: { period: "month" },
} as const satisfies Record<string, { period: "day" | "month" }>;

export type MeterName = keyof typeof METERS;
export type MeterPeriod = (typeof METERS)[MeterName]["period"];
export const METER_NAMES = Object.keys(METERS) as MeterName[];

export function isMeterName(name: string): name is MeterName {
  return Object.hasOwn(METERS, name);
}

/** Usage warning thresholds in percent of the included quantity, lowest first. */
export const WARNING_THRESHOLDS = [80, 90, 100] as const;
export type WarningLevel = 0 | (typeof WARNING_THRESHOLDS)[number];
