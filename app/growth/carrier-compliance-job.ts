// The directory compliance job (a CronJob in the active region, daily; also runnable on demand):
// reminds carriers 30, 7 and 1 days before a compliance document expires, tells the tenants that
// onboarded a carrier when one of its documents lapses, and marks invites onboarded once their
// carrier's documents are on file (app/growth/carrier-compliance.ts). Each is recorded once, so
// re-running the same day sends nothing twice.
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight npm run carrier-compliance
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { runComplianceReminders, type ComplianceRun } from "./carrier-compliance.ts";

export const carrierComplianceEnv = defineEnv({
  process: "carrier compliance job",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
  }),
  secrets: ["OPERATOR_DATABASE_URL"],
});

/** The job's configuration from `env`; throws ConfigError listing every problem. */
export function parseCarrierComplianceConfig(env: Env): { OPERATOR_DATABASE_URL: string } {
  return carrierComplianceEnv.parse(env);
}

export function describeRun(run: ComplianceRun): string[] {
  return [
    ...run.carrierReminders.map(
      (r) => `carrier_compliance_reminder: ${r.carrier} ${r.kind} expires in ${r.daysBefore} day(s) or less`,
    ),
    ...run.tenantNotices.map((n) => `carrier_non_compliant: tenant ${n.tenantId} told about ${n.carrier}`),
    `${run.carrierReminders.length} carrier reminder(s), ${run.tenantNotices.length} tenant notice(s), ${run.onboarded} invite(s) onboarded.`,
  ];
}

async function main(): Promise<void> {
  const { createPool } = await import("../db/pool.ts");
  const { OPERATOR_DATABASE_URL } = loadEnv(carrierComplianceEnv);
  const pool: pg.Pool = createPool(OPERATOR_DATABASE_URL, 2);
  try {
    for (const line of describeRun(await runComplianceReminders(pool))) console.log(line);
  } finally {
    await pool.end();
  }
}

if (import.meta.main) await main();
