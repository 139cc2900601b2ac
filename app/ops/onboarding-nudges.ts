// The hourly first-quote nudge (a CronJob in the active region; also runnable on demand): every tenant
// that signed up more than 24 h ago and has not sent a quote gets one reminder email, queued as a
// tenant_notice agent task the runner delivers. Re-running is harmless: a nudged tenant is never
// nudged again (app/onboarding/checklist.ts).
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight npm run onboarding:nudges
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { queueFirstQuoteNudges } from "../onboarding/checklist.ts";

export const onboardingNudgesEnv = defineEnv({
  process: "onboarding nudges job",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
  }),
  secrets: ["OPERATOR_DATABASE_URL"],
});

/** The nudge job's configuration from `env`; throws ConfigError listing every problem. */
export function parseOnboardingNudgesConfig(env: Env): { OPERATOR_DATABASE_URL: string } {
  return onboardingNudgesEnv.parse(env);
}

export async function runOnboardingNudges(operator: pg.Pool, at = new Date()): Promise<string[]> {
  const nudged = await queueFirstQuoteNudges(operator, at);
  return nudged.map((n) => n.slug);
}

async function main(): Promise<void> {
  const { createPool } = await import("../db/pool.ts");
  const { OPERATOR_DATABASE_URL } = loadEnv(onboardingNudgesEnv);
  const pool = createPool(OPERATOR_DATABASE_URL, 2);
  try {
    const nudged = await runOnboardingNudges(pool);
    for (const slug of nudged)
      console.log(`first_quote_nudge: tenant ${slug} has not sent a quote since signup`);
    console.log(`${nudged.length} new nudge(s).`);
  } finally {
    await pool.end();
  }
}

if (import.meta.main) await main();
