// The NPS invitation job (a CronJob in the active region every hour; also runnable on demand):
// invites every tenant at trial day 21 or paid day 90, once per milestone, and queues the invitation
// email the runner sends (app/growth/nps.ts). Re-running is harmless: an invited tenant is never
// invited to the same milestone again.
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight npm run nps:invite
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { inviteNpsSurveys, type NpsInvitation } from "./nps.ts";

export const npsInvitationsEnv = defineEnv({
  process: "NPS invitations job",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
  }),
  secrets: ["OPERATOR_DATABASE_URL"],
});

/** The job's configuration from `env`; throws ConfigError listing every problem. */
export function parseNpsInvitationsConfig(env: Env): { OPERATOR_DATABASE_URL: string } {
  return npsInvitationsEnv.parse(env);
}

export async function runNpsInvitations(operator: pg.Pool, at = new Date()): Promise<NpsInvitation[]> {
  return inviteNpsSurveys(operator, at);
}

async function main(): Promise<void> {
  const { createPool } = await import("../db/pool.ts");
  const { OPERATOR_DATABASE_URL } = loadEnv(npsInvitationsEnv);
  const pool = createPool(OPERATOR_DATABASE_URL, 2);
  try {
    const invited = await runNpsInvitations(pool);
    for (const i of invited) console.log(`nps_survey: tenant ${i.slug} reached ${i.milestone}`);
    console.log(`${invited.length} new NPS invitation(s).`);
  } finally {
    await pool.end();
  }
}

if (import.meta.main) await main();
