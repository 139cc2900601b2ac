// Ops' command for data subject requests, as freight_operator (every tenant, one at a time):
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight npm run dsr -- <command>
//     receive --tenant <slug> --kind access|erasure (--email <address> | --id <sign-in id> | --whole-tenant) --by <who>
//     verify <request-id> --by <who> --method <how the requester's identity was checked>
//     deny <request-id> --by <who> --reason <text>
//     status [<request-id>]          one request and its history; without an id, every open request
//     download <request-id> --token <token> --out <file.tar.gz>
//                                    redeems an export link ops was sent (a deleted Tenant's data_export,
//                                    whose API keys are disabled): the bundle, checked against its SHA-256
//     link <request-id>              a fresh export link for a completed access request (the sent one expired)
//     drill [--timeout <seconds>]    the monthly drill (scheduled by the stacks), see drill.ts
//
// Verifying queues the runner's fulfilment; `status` shows where it is. Exit codes: 0 done; 1
// refused (unknown tenant or request, unverified, already erased...) or a failed drill, nothing
// changed; 2 usage; 78 configuration (app/env.ts).
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createPool, transaction, withTenant } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";
import { runDrill } from "./dsr/drill.ts";
import {
  DSR_KINDS,
  DsrError,
  denyRequest,
  findRequest,
  receiveRequest,
  requestEvents,
  verifyRequest,
  type DsrKind,
  type DsrRequest,
} from "./dsr/lifecycle.ts";
import { issueExportLink, redeemExportLink } from "./dsr/links.ts";
import { appConfigSchema } from "../config.ts";
import { subjectProblems } from "./dsr/subject.ts";

const USAGE = `usage:
  npm run dsr -- receive --tenant <slug> --kind ${DSR_KINDS.join("|")} (--email <address> | --id <sign-in id> | --whole-tenant) --by <who>
  npm run dsr -- verify <request-id> --by <who> --method <how the requester's identity was checked>
  npm run dsr -- deny <request-id> --by <who> --reason <text>
  npm run dsr -- status [<request-id>]
  npm run dsr -- download <request-id> --token <token from the link> --out <file.tar.gz>
  npm run dsr -- link <request-id>
  npm run dsr -- drill [--timeout <seconds>]      (default 900)`;

const dsrConfigSchema = z.object({
  OPERATOR_DATABASE_URL: postgresUrl(
    "the freight_operator role's connection URL",
    "postgres://freight_operator:...@host:5432/freight",
  ),
});
export type DsrConfig = z.infer<typeof dsrConfigSchema>;
// Read from OPERATOR_DATABASE_URL_FILE in the drill CronJob (a mounted Secret key), as the other jobs.
export const dsrEnv = defineEnv({
  process: "dsr command",
  schema: dsrConfigSchema,
  secrets: ["OPERATOR_DATABASE_URL"],
});

/** The command's start-up check (stacks/processes.ts runs it on the drill CronJob's env). */
export function parseDsrConfig(env: Env): DsrConfig {
  return dsrEnv.parse(env);
}

/** Ops' fresh links last as long as the API's (DSR_EXPORT_LINK_TTL_SECONDS' default: a day). */
const LINK_TTL_SECONDS = appConfigSchema.shape.DSR_EXPORT_LINK_TTL_SECONDS.parse(undefined);
const opsActor = () => `ops:${userInfo().username}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function usage(message: string): number {
  console.error(`${message}\n\n${USAGE}`);
  return 2;
}

function line(r: DsrRequest): string {
  const due = r.status === "completed" || r.status === "denied" ? "" : `  due ${r.dueAt.toISOString()}`;
  return `${r.id}  ${r.kind.padEnd(7)} ${r.scope.padEnd(7)} ${r.status.padEnd(11)} received ${r.receivedAt.toISOString()}${due}`;
}

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: "string" },
        kind: { type: "string" },
        email: { type: "string" },
        id: { type: "string" },
        "whole-tenant": { type: "boolean" },
        by: { type: "string" },
        method: { type: "string" },
        reason: { type: "string" },
        timeout: { type: "string" },
        token: { type: "string" },
        out: { type: "string" },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values } = parsed;
  const [command, id] = parsed.positionals;
  if (id !== undefined && !UUID.test(id)) return usage(`${JSON.stringify(id)} is not a request id (a UUID)`);
  switch (command) {
    case "receive": {
      const problems: string[] = [];
      if (!values.tenant) problems.push("--tenant <slug> is required");
      if (!values.by) problems.push("--by <who> is required");
      if (!DSR_KINDS.includes(values.kind as DsrKind))
        problems.push(`--kind must be one of ${DSR_KINDS.join(", ")}`);
      if (values["whole-tenant"]) {
        if (values.email !== undefined || values.id !== undefined)
          problems.push("--whole-tenant names no subject: leave out --email and --id");
      } else if ([values.email, values.id].filter((v) => v !== undefined).length !== 1)
        problems.push("give exactly one of --email <address>, --id <sign-in id> or --whole-tenant");
      else problems.push(...subjectProblems({ email: values.email, id: values.id }));
      if (problems.length) return usage(problems.join("\n"));
      break;
    }
    case "verify":
    case "deny":
      if (!id) return usage(`${command} needs the request id`);
      if (!values.by) return usage("--by <who> is required");
      if (command === "verify" && !values.method)
        return usage("--method <how the requester was verified> is required");
      if (command === "deny" && !values.reason) return usage("--reason <text> is required");
      break;
    case "status":
      break;
    case "link":
      if (!id) return usage("link needs the request id");
      break;
    case "download":
      if (!id) return usage("download needs the request id");
      if (!values.token) return usage("--token <the token of the export link> is required");
      if (!values.out) return usage("--out <file.tar.gz> is required");
      break;
    case "drill":
      if (values.timeout !== undefined && !/^\d+$/.test(values.timeout))
        return usage("--timeout must be whole seconds");
      break;
    default:
      return usage(command ? `unknown command ${command}` : "give a command");
  }

  let config: DsrConfig;
  try {
    config = parseDsrConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  const pool = createPool(config.OPERATOR_DATABASE_URL, 2);
  try {
    // The request's tenant, for its row-security context (ops' policies read every tenant's requests).
    const tenantOfRequest = async (requestId: string) => {
      const { rows } = await pool.query<{ tenant_id: string }>(
        "SELECT tenant_id FROM dsr_requests WHERE id = $1",
        [requestId],
      );
      if (!rows[0])
        throw new DsrError(
          "not-found",
          `no data subject request ${requestId}; list open ones with npm run dsr -- status`,
        );
      return rows[0].tenant_id;
    };
    if (command === "receive") {
      const { rows } = await pool.query<{ id: string }>("SELECT id FROM tenants WHERE slug = $1", [
        values.tenant,
      ]);
      if (!rows[0])
        throw new DsrError(
          "not-found",
          `no tenant ${values.tenant}; give its slug (as in the Tenant resource)`,
        );
      const created = await withTenant(pool, rows[0].id, (db) =>
        receiveRequest(db, rows[0]!.id, {
          kind: values.kind as DsrKind,
          scope: values["whole-tenant"] ? "tenant" : "subject",
          subject:
            values.email !== undefined
              ? { email: values.email }
              : values.id !== undefined
                ? { id: values.id }
                : undefined,
          requestedBy: `ops:${values.by}`,
        }),
      );
      console.log(
        `received ${line(created)}\nverify the requester next: npm run dsr -- verify ${created.id} --by <who> --method <how>`,
      );
    } else if (command === "verify") {
      const tenantId = await tenantOfRequest(id!);
      const verified = await withTenant(pool, tenantId, (db) =>
        verifyRequest(db, id!, `ops:${values.by}`, values.method!),
      );
      console.log(`verified ${line(verified)}; the runner fulfils it now`);
    } else if (command === "deny") {
      const tenantId = await tenantOfRequest(id!);
      const denied = await withTenant(pool, tenantId, (db) =>
        denyRequest(db, id!, `ops:${values.by}`, values.reason!),
      );
      console.log(`denied ${line(denied)}`);
    } else if (command === "link") {
      const tenantId = await tenantOfRequest(id!);
      const link = await withTenant(pool, tenantId, (db) =>
        issueExportLink(db, id!, opsActor(), LINK_TTL_SECONDS),
      );
      const token = new URL(link.path, "http://link").searchParams.get("token");
      console.log(
        `${link.path}\ngood until ${link.expiresAt.toISOString()}: npm run dsr -- download ${id} --token ${token} --out <file.tar.gz>`,
      );
    } else if (command === "download") {
      const tenantId = await tenantOfRequest(id!);
      const bundle = await withTenant(pool, tenantId, (db) =>
        redeemExportLink(db, id!, values.token!, opsActor()),
      ).catch((error: unknown) => {
        if (error instanceof DsrError && error.code === "link-expired")
          throw new DsrError(
            "link-expired",
            `${error.message.replace(/; ask for a fresh one.*$/, "")}; issue a fresh one with npm run dsr -- link ${id}`,
          );
        throw error;
      });
      // The bytes as stored are the bytes hashed when the bundle was built, or nothing is written.
      const actual = createHash("sha256").update(bundle.archive).digest("hex");
      if (actual !== bundle.sha256)
        throw new DsrError(
          "incomplete",
          `the stored bundle of request ${id} does not match its SHA-256 (${actual} against ${bundle.sha256}); nothing written`,
        );
      await writeFile(values.out!, bundle.archive);
      console.log(
        `wrote ${bundle.archive.length} bytes of request ${id}'s bundle to ${values.out} (SHA-256 ${bundle.sha256}); its manifest.json lists every file with its own SHA-256`,
      );
    } else if (command === "status" && id) {
      const tenantId = await tenantOfRequest(id);
      await withTenant(pool, tenantId, async (db) => {
        const request = (await findRequest(db, id))!;
        console.log(line(request));
        for (const e of await requestEvents(db, id))
          console.log(
            `  ${e.at.toISOString()}  ${e.event.padEnd(11)} ${e.actor}  ${JSON.stringify(e.detail)}`,
          );
        if (request.outcome) console.log(`  outcome ${JSON.stringify(request.outcome)}`);
      });
    } else if (command === "status") {
      const open = await transaction(pool, async (db) => {
        const { rows } = await db.query<{ id: string; tenant_id: string }>(
          "SELECT id, tenant_id FROM dsr_requests WHERE status IN ('received', 'verified', 'in_progress') ORDER BY due_at",
        );
        return rows;
      });
      if (!open.length) console.log("no open data subject requests");
      for (const r of open)
        console.log(line((await withTenant(pool, r.tenant_id, (db) => findRequest(db, r.id)))!));
    } else {
      const report = await runDrill(pool, {
        timeoutMs: Number(values.timeout ?? 900) * 1000,
        log: console.log,
      });
      console.log(JSON.stringify(report));
      return report.passed ? 0 : 1;
    }
    return 0;
  } catch (error) {
    if (!(error instanceof DsrError)) throw error;
    console.error(error.message);
    return 1;
  } finally {
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
