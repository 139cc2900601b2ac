// Ops' one command for limit-increase requests: list them, grant one (the tenant's Tenant.spec.overrides
// through server-side apply, field manager freight-limits, the request named in the override's reason
// and an annotation), or decline one with a reason. Either decision is recorded once on the request and
// emails the tenant (a tenant_notice the runner sends).
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight KUBECONFIG=~/.kube/prod-primary \
//     npm run limits -- approve 6f1c... --by dana@freight.dev [--amount 5000] [--ceiling 6000] [--note "Q4 peak"]
//
// Exit codes: 0 done; 1 refused (no such request, already decided, an amount that makes no sense, no
// Tenant on the control plane), nothing changed; 2 usage; 78 configuration (app/env.ts).
import { parseArgs } from "node:util";
import { z } from "zod";
import { createPool, transaction } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";
import {
  decideGrant,
  DecisionRefused,
  LIMIT_REQUEST_STATUSES,
  listForOps,
  lockOpenRequest,
  recordDecision,
  type LimitRequestStatus,
} from "../limits/requests.ts";
import { TenantMissing, TenantOverrideWriter } from "../limits/tenant-overrides.ts";

const USAGE = `usage:
  npm run limits -- list [--status ${LIMIT_REQUEST_STATUSES.join("|")}|all]     (default: open)
  npm run limits -- approve <request-id> --by <who> [--amount <units>] [--ceiling <units>] [--note <text>]
  npm run limits -- decline <request-id> --by <who> --reason <text>

approve grants what the tenant asked for unless --amount says otherwise, keeping the tenant's current
headroom between included and the hard ceiling unless --ceiling says otherwise.`;

const limitsConfigSchema = z.object({
  OPERATOR_DATABASE_URL: postgresUrl(
    "the freight_operator role's connection URL",
    "postgres://freight_operator:...@host:5432/freight",
  ),
  /** Ops' kubeconfig for the active region's control plane (approve only). */
  KUBECONFIG: z.string().min(1).optional(),
  LIMITS_TENANT_NAMESPACE: z.string().min(1).default("tenants"),
});
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
export const limitsEnv = defineEnv({ process: "limits command", schema: limitsConfigSchema });

export function parseLimitsConfig(env: Env): LimitsConfig {
  return limitsEnv.parse(env);
}

function usage(message: string): number {
  console.error(`${message}\n\n${USAGE}`);
  return 2;
}

const wholeNumber = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.replaceAll(",", "").replaceAll("_", "")))
    throw new DecisionRefused(`${flag} ${JSON.stringify(value)} is not a whole number of units`);
  return Number(value.replaceAll(",", "").replaceAll("_", ""));
};

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        status: { type: "string" },
        by: { type: "string" },
        amount: { type: "string" },
        ceiling: { type: "string" },
        note: { type: "string" },
        reason: { type: "string" },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const [command, id, ...extra] = parsed.positionals;
  const o = parsed.values;
  if (command !== "list" && command !== "approve" && command !== "decline")
    return usage("Say what to do: list, approve or decline.");
  if (extra.length) return usage(`Unexpected arguments: ${extra.join(" ")}`);
  if (command !== "list") {
    const problems: string[] = [];
    if (!id) problems.push("the request id is required (npm run limits -- list shows open ones)");
    if (!o.by?.trim()) problems.push("--by is required (who decides, e.g. an email): it is recorded");
    if (command === "decline" && (!o.reason || o.reason.trim().length < 3))
      problems.push("--reason is required to decline (at least 3 characters): the tenant reads it");
    if (command === "approve" && o.reason !== undefined)
      problems.push("--reason is for decline; a note to the tenant with a grant is --note");
    if (problems.length) return usage(problems.map((p) => `  - ${p}`).join("\n"));
  }
  const status = o.status ?? "open";
  if (
    command === "list" &&
    status !== "all" &&
    !LIMIT_REQUEST_STATUSES.includes(status as LimitRequestStatus)
  )
    return usage(`--status must be one of ${LIMIT_REQUEST_STATUSES.join(", ")}, all`);

  let config: LimitsConfig;
  try {
    config = parseLimitsConfig(env);
    if (command === "approve" && !config.KUBECONFIG)
      throw new ConfigError("limits command", [
        {
          variable: "KUBECONFIG",
          message:
            "is required to approve: the grant is applied to the Tenant on the active region's control plane",
        },
      ]);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }

  const pool = createPool(config.OPERATOR_DATABASE_URL, 1);
  const writer =
    command === "approve"
      ? TenantOverrideWriter.fromKubeconfig(config.KUBECONFIG!, config.LIMITS_TENANT_NAMESPACE)
      : undefined;
  try {
    if (command === "list") {
      const rows = await listForOps(pool, status === "all" ? undefined : (status as LimitRequestStatus));
      if (!rows.length) console.log(`No ${status === "all" ? "" : `${status} `}limit-increase requests.`);
      for (const r of rows)
        console.log(
          `${r.id}  ${r.created_at.toISOString()}  ${r.slug}  ${r.meter}  asks ${r.requested_limit}  ${r.status}` +
            (r.decided_by ? ` by ${r.decided_by}` : "") +
            `  ${JSON.stringify(r.reason)}`,
        );
      return 0;
    }
    const decided = await transaction(pool, async (db) => {
      const request = await lockOpenRequest(db, id!);
      if (command === "decline")
        return recordDecision(db, request, {
          status: "declined",
          by: o.by!.trim(),
          reason: o.reason!.trim(),
        });
      const { rows } = await db.query<{ included: string; hard_ceiling: string }>(
        "SELECT included, hard_ceiling FROM entitlements WHERE tenant_id = $1 AND meter = $2",
        [request.tenant_id, request.meter],
      );
      const grant = decideGrant(
        { meter: request.meter, requestedLimit: Number(request.requested_limit) },
        rows[0]
          ? { included: Number(rows[0].included), hardCeiling: Number(rows[0].hard_ceiling) }
          : undefined,
        { amount: wholeNumber("--amount", o.amount), ceiling: wholeNumber("--ceiling", o.ceiling) },
      );
      // Applied before the decision commits: a failed apply leaves the request open; a crash after it
      // leaves it open too, and approving again applies the same override (no change) and records it.
      await writer!.apply(request.slug, {
        meter: request.meter,
        included: grant.included,
        hardCeiling: grant.hardCeiling,
        requestId: request.id,
        reason: request.reason,
      });
      return recordDecision(db, request, {
        status: "granted",
        by: o.by!.trim(),
        grant,
        note: o.note?.trim(),
      });
    });
    if (decided.status === "granted")
      console.log(
        `GRANTED  ${decided.id}  ${decided.meter}: ${decided.granted_included} included, ceiling ${decided.granted_hard_ceiling}` +
          ` (Tenant.spec.overrides on ${writer!.target}); the tenant is emailed`,
      );
    else
      console.log(
        `DECLINED  ${decided.id}  ${decided.meter}: ${decided.decision_reason}; the tenant is emailed`,
      );
    return 0;
  } catch (error) {
    if (error instanceof DecisionRefused || error instanceof TenantMissing) {
      console.error(`REFUSED  ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    writer?.close();
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
