// The nightly breach check (also runnable on demand): when a tenant's usage of a meter crosses 80, 90
// or 100 % of its included quantity, ops gets one notify_ops agent task per tenant, meter, threshold
// and period. Re-running it is harmless: thresholds already recorded are skipped.
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";

export interface BreachNotice {
  tenantId: string;
  meter: string;
  periodStart: Date;
  threshold: number;
  percent: number;
}

// Every crossed threshold is recorded; only the highest newly crossed one becomes a task, so a jump
// from 50 % to 100 % between runs pages once, not three times.
const BREACH_SQL = `
WITH current_usage AS (
  SELECT e.tenant_id, e.meter, u.period_start, u.used, e.included,
         CASE WHEN e.included = 0 THEN 100 ELSE 100.0 * u.used / e.included END AS percent
    FROM entitlements e
    JOIN usage_counters u
      ON u.tenant_id = e.tenant_id AND u.meter = e.meter
     AND u.period_start = date_trunc(CASE e.period WHEN 'day' THEN 'day' ELSE 'month' END, $1::timestamptz, 'UTC')
    JOIN tenants t ON t.id = e.tenant_id AND t.disabled_at IS NULL
   WHERE u.used > 0
), crossed AS (
  INSERT INTO usage_warnings (tenant_id, meter, period_start, threshold)
  SELECT c.tenant_id, c.meter, c.period_start, th.threshold
    FROM current_usage c CROSS JOIN (VALUES (80), (90), (100)) AS th(threshold)
   WHERE c.percent >= th.threshold
  ON CONFLICT DO NOTHING
  RETURNING tenant_id, meter, period_start, threshold
), highest AS (
  SELECT DISTINCT ON (cr.tenant_id, cr.meter, cr.period_start) cr.*, c.percent, c.used, c.included
    FROM crossed cr JOIN current_usage c USING (tenant_id, meter, period_start)
   ORDER BY cr.tenant_id, cr.meter, cr.period_start, cr.threshold DESC
)
INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
SELECT h.tenant_id, 'notify_ops',
       jsonb_build_object('meter', h.meter, 'threshold', h.threshold, 'percent', round(h.percent, 1),
                          'used', h.used, 'included', h.included, 'periodStart', h.period_start),
       format('notify_ops:%s:%s:%s:%s', h.tenant_id, h.meter, to_char(h.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'), h.threshold)
  FROM highest h
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING tenant_id, payload`;

/** Runs the breach check as the operator role (all tenants). Returns the notices created now. */
export async function runUsageBreachCheck(operator: pg.Pool, at = new Date()): Promise<BreachNotice[]> {
  const { rows } = await operator.query<{ tenant_id: string; payload: Record<string, unknown> }>(BREACH_SQL, [
    at,
  ]);
  return rows.map((row) => ({
    tenantId: row.tenant_id,
    meter: String(row.payload.meter),
    periodStart: new Date(String(row.payload.periodStart)),
    threshold: Number(row.payload.threshold),
    percent: Number(row.payload.percent),
  }));
}

/** Tenants at each warning level per meter right now (for the meter_warning_tenants gauge). */
export async function usageWarningCounts(
  reader: pg.Pool,
): Promise<{ meter: string; level: string; tenants: number }[]> {
  const { rows } = await reader.query<{ meter: string; level: string; tenants: number }>(
    `SELECT meter, level::text, count(*)::int AS tenants FROM (
       SELECT e.meter,
              CASE WHEN p >= 100 THEN 100 WHEN p >= 90 THEN 90 ELSE 80 END AS level
         FROM entitlements e
         JOIN usage_counters u
           ON u.tenant_id = e.tenant_id AND u.meter = e.meter
          AND u.period_start = date_trunc(CASE e.period WHEN 'day' THEN 'day' ELSE 'month' END, now(), 'UTC')
         CROSS JOIN LATERAL (SELECT CASE WHEN e.included = 0 THEN 100 ELSE 100.0 * u.used / e.included END AS p) x
        WHERE p >= 80) levels
     GROUP BY meter, level`,
  );
  return rows;
}

export const usageWarningsEnv = defineEnv({
  process: "usage warnings job",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
  }),
  secrets: ["OPERATOR_DATABASE_URL"],
});

/** The breach check's configuration from `env`; throws ConfigError listing every problem. */
export function parseUsageWarningsConfig(env: Env): { OPERATOR_DATABASE_URL: string } {
  return usageWarningsEnv.parse(env);
}

async function main(): Promise<void> {
  const { createPool } = await import("../db/pool.ts");
  const { OPERATOR_DATABASE_URL } = loadEnv(usageWarningsEnv);
  const pool = createPool(OPERATOR_DATABASE_URL, 2);
  try {
    const notices = await runUsageBreachCheck(pool);
    for (const n of notices)
      console.log(`notify_ops: tenant ${n.tenantId} ${n.meter} crossed ${n.threshold} % (${n.percent} %)`);
    console.log(`${notices.length} new notice(s).`);
  } finally {
    await pool.end();
  }
}

if (import.meta.main) await main();
