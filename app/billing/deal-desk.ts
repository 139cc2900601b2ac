// The deal desk's command line: decide a discount against the guardrails and audit the decision, or
// list a tenant's discount history. Connects as freight_billing (BILLING_DATABASE_URL).
//
//   npm run billing:discount -- decide --tenant acme-logistics --deal Q-2026-118 --term annual \
//     --percent 15 --approver dana@freight.dev --role sales_director --reason "3-year logo, case study"
//   npm run billing:discount -- history --tenant acme-logistics
//
// Exit code 0: approved (or history printed); 1: refused (the message names who must approve, or why
// no one may); 2: usage error; 78: configuration error (app/env.ts).
import { parseArgs } from "node:util";
import { z } from "zod";
import { createPool } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";
import {
  APPROVAL_MATRIX,
  APPROVER_ROLES,
  decideAndRecord,
  discountHistory,
  MAX_DISCOUNT_PERCENT,
  TERMS,
  type ApproverRole,
  type Term,
} from "./discounts.ts";

const USAGE = `usage:
  npm run billing:discount -- decide --tenant <slug> --deal <ref> --term ${TERMS.join("|")} --percent <n>
                                     --approver <who> --role ${APPROVER_ROLES.join("|")} --reason <text>
  npm run billing:discount -- history --tenant <slug>

Maximum discount by term: ${TERMS.map((t) => `${t} ${MAX_DISCOUNT_PERCENT[t]}%`).join(", ")}.
Approval matrix: ${APPROVAL_MATRIX.map((a) => `${a.role} up to ${a.upToPercent}%`).join(", ")}.`;

function fail(message: string): number {
  console.error(`${message}\n\n${USAGE}`);
  return 2;
}

export const dealDeskEnv = defineEnv({
  process: "deal desk",
  schema: z.object({
    BILLING_DATABASE_URL: postgresUrl(
      "the freight_billing role's connection URL",
      "postgres://freight_billing:...@host:5432/freight",
    ),
  }),
  secrets: ["BILLING_DATABASE_URL"],
});

/** The deal desk's configuration from `env`; throws ConfigError listing every problem. */
export function parseDealDeskConfig(env: Env): { BILLING_DATABASE_URL: string } {
  return dealDeskEnv.parse(env);
}

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: "string" },
        deal: { type: "string" },
        term: { type: "string" },
        percent: { type: "string" },
        approver: { type: "string" },
        role: { type: "string" },
        reason: { type: "string" },
      },
    });
  } catch (error) {
    return fail((error as Error).message);
  }
  const [command] = parsed.positionals;
  const o = parsed.values;
  if (command !== "decide" && command !== "history") return fail("Say what to do: decide or history.");
  let config: { BILLING_DATABASE_URL: string };
  try {
    config = parseDealDeskConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  if (!o.tenant) return fail("--tenant is required (the tenant's slug).");

  const problems: string[] = [];
  if (command === "decide") {
    if (!o.deal) problems.push("--deal is required (the quote or opportunity reference)");
    if (!TERMS.includes(o.term as Term)) problems.push(`--term must be one of ${TERMS.join(", ")}`);
    const percent = Number(o.percent);
    if (!(percent > 0 && percent <= 100 && Math.round(percent * 100) === percent * 100))
      problems.push("--percent must be a number above 0 and at most 100, with at most two decimals");
    if (!o.approver) problems.push("--approver is required (who decides, e.g. an email)");
    if (!APPROVER_ROLES.includes(o.role as ApproverRole))
      problems.push(`--role must be one of ${APPROVER_ROLES.join(", ")}`);
    if (!o.reason || o.reason.trim().length < 3) problems.push("--reason is required (why this discount)");
    if (problems.length) return fail(problems.map((p) => `  - ${p}`).join("\n"));
  }

  const pool = createPool(config.BILLING_DATABASE_URL, 1);
  try {
    if (command === "history") {
      const rows = await discountHistory(pool, o.tenant);
      if (!rows.length) console.log(`No discount decisions recorded for ${o.tenant}.`);
      for (const r of rows) {
        console.log(
          `${r.createdAt.toISOString()}  ${r.dealRef}  ${r.term}  ${r.percent}%  ${r.decision}` +
            `  by ${r.decidedBy} (${r.decidedByRole})${r.requiredRole ? `  needs ${r.requiredRole}` : ""}  ${r.reason}`,
        );
      }
      return 0;
    }
    const outcome = await decideAndRecord(pool, {
      tenantSlug: o.tenant,
      dealRef: o.deal!,
      term: o.term as Term,
      percent: Number(o.percent),
      decidedBy: o.approver!,
      role: o.role as ApproverRole,
      reason: o.reason!.trim(),
    });
    if (outcome.decision === "approved") {
      console.log(`APPROVED  ${outcome.detail}  (audit ${outcome.id})`);
      return 0;
    }
    console.error(`REFUSED  ${outcome.detail}  (audit ${outcome.id})`);
    return 1;
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  } finally {
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
