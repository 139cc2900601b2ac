// The lead-signal job (a CronJob in the active region every 10 minutes; also runnable on demand):
// records a signal for every trial or paying tenant that crossed >= 3 quotes or >= 2 bulk jobs in
// 72 hours (one per tenant per window), then delivers every due pending signal to the CRM webhook
// (app/growth/lead-signals.ts). A CRM that is down only delays delivery: the next runs retry.
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight CRM_WEBHOOK_URL=https://crm.example.com/hooks/freight \
//     CRM_WEBHOOK_SECRET=... npm run lead-signals
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { deliverLeadSignals, detectLeadSignals, type CrmWebhook } from "../growth/lead-signals.ts";

export const leadSignalsEnv = defineEnv({
  process: "lead signals job",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
    CRM_WEBHOOK_URL: z.url(
      "must be the CRM webhook's absolute URL, e.g. https://crm.example.com/hooks/freight",
    ),
    CRM_WEBHOOK_SECRET: z
      .string()
      .min(16, "must be the CRM webhook's signing secret (at least 16 characters)"),
  }),
  secrets: ["OPERATOR_DATABASE_URL", "CRM_WEBHOOK_URL", "CRM_WEBHOOK_SECRET"],
});

export type LeadSignalsConfig = {
  OPERATOR_DATABASE_URL: string;
  CRM_WEBHOOK_URL: string;
  CRM_WEBHOOK_SECRET: string;
};

/** The job's configuration from `env`; throws ConfigError listing every problem. */
export function parseLeadSignalsConfig(env: Env): LeadSignalsConfig {
  return leadSignalsEnv.parse(env);
}

export async function runLeadSignals(operator: pg.Pool, crm: CrmWebhook, at = new Date()) {
  const detected = await detectLeadSignals(operator, at);
  const delivery = await deliverLeadSignals(operator, crm);
  return { detected, delivery };
}

async function main(): Promise<void> {
  const { createPool } = await import("../db/pool.ts");
  const config = loadEnv(leadSignalsEnv);
  const pool = createPool(config.OPERATOR_DATABASE_URL, 4);
  try {
    const { detected, delivery } = await runLeadSignals(pool, {
      url: config.CRM_WEBHOOK_URL,
      secret: config.CRM_WEBHOOK_SECRET,
    });
    console.log(
      `${detected.length} new lead signal(s); delivered ${delivery.delivered}, failed ${delivery.failed}, ${delivery.pending} pending.`,
    );
  } finally {
    await pool.end();
  }
}

if (import.meta.main) await main();
