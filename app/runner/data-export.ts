// data_export agent tasks: a deleted Tenant's data, as the data subject request access bundle of the
// whole tenant, then ops told where to fetch it. The tenant controller queues the task when a Tenant
// is deleted; offboarding only disables the tenant and its keys (operators/controllers/tenant/store.ts),
// so every row is still there when the export runs. The task files a tenant-scope access request
// (requested and verified by the platform: there is no requester to verify, the Tenant's deletion is
// the instruction), fulfils it with the request's own builder (app/compliance/dsr: every tenant table
// and document, a manifest with each file's SHA-256, the archive's SHA-256), and issues a signed,
// expiring export link that ops redeems with `npm run dsr -- download` (the tenant's API keys are
// disabled by then). One request per task (found again by its requester on a retry), so a retried
// task reuses the stored bundle; each retry issues a fresh link, recorded in the request's history.
import type pg from "pg";
import { withTenant } from "../db/pool.ts";
import { fulfilRequest, type DocumentFiles } from "../compliance/dsr/fulfil.ts";
import { issueExportLink } from "../compliance/dsr/links.ts";
import {
  DsrError,
  findRequest,
  receiveRequest,
  verifyRequest,
  type DsrRequest,
} from "../compliance/dsr/lifecycle.ts";
import { deliverOpsEvent, type OpsDelivery } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export interface DataExportOptions extends OpsDelivery {
  pool: pg.Pool;
  /** The documents buckets; absent, a tenant with documents cannot be exported (the task fails saying so). */
  documents?: DocumentFiles;
  /** How long the export link ops is sent stays good (DSR_EXPORT_LINK_TTL_SECONDS, as the API's). */
  linkTtlSeconds: number;
}

const ACTOR = "runner";

/** Who the access request names as its requester: the task, so a retry finds the same request. */
export const exportRequester = (taskId: string) => `platform: Tenant deleted (data_export task ${taskId})`;

/** The tenant-scope access request of data_export task `taskId`, filed and verified on the first attempt. */
async function exportRequest(pool: pg.Pool, tenantId: string, taskId: string): Promise<DsrRequest> {
  const requestedBy = exportRequester(taskId);
  return withTenant(pool, tenantId, async (db) => {
    const { rows } = await db.query<{ id: string }>(
      "SELECT id FROM dsr_requests WHERE tenant_id = current_tenant_id() AND requested_by = $1",
      [requestedBy],
    );
    if (rows[0]) return (await findRequest(db, rows[0].id))!;
    const received = await receiveRequest(db, tenantId, { kind: "access", scope: "tenant", requestedBy });
    // Fulfilled right here, not by a queued dsr_fulfil task: ops is told once the link exists.
    return verifyRequest(db, received.id, "platform", "the Tenant object was deleted by the platform", {
      queueFulfilment: false,
    });
  });
}

export function dataExportHandler(options: DataExportOptions): AgentTaskHandler {
  return async (task, { signal, log }) => {
    const slug = typeof task.payload.slug === "string" ? task.payload.slug : task.tenantId;
    let done: DsrRequest;
    try {
      const request = await exportRequest(options.pool, task.tenantId, task.id);
      done = await fulfilRequest(
        { pool: options.pool, documents: options.documents, actor: ACTOR },
        task.tenantId,
        request.id,
      );
    } catch (error) {
      // No buckets for its documents, a table the runner cannot read: the same on every attempt.
      if (error instanceof DsrError) throw new PermanentTaskError(error.message);
      throw error;
    }
    const link = await withTenant(options.pool, task.tenantId, (db) =>
      issueExportLink(db, done.id, ACTOR, options.linkTtlSeconds),
    );
    const outcome = done.outcome as {
      bytes: number;
      sha256: string;
      rows: Record<string, number>;
      documents: number;
    };
    const rows = Object.values(outcome.rows).reduce((a, b) => a + b, 0);
    const tables = Object.keys(outcome.rows).length;
    log.info(
      { request: done.id, tenant: slug, bytes: outcome.bytes, rows, documents: outcome.documents },
      "tenant data exported",
    );
    const token = new URL(link.path, "http://link").searchParams.get("token")!;
    await deliverOpsEvent(
      options,
      {
        event: "data_export_ready",
        severity: "ticket",
        taskId: task.id,
        tenantId: task.tenantId,
        tenantSlug: slug,
        requestId: done.id,
        bytes: outcome.bytes,
        sha256: outcome.sha256,
        rowCounts: outcome.rows,
        documents: outcome.documents,
        link: link.path,
        linkExpiresAt: link.expiresAt.toISOString(),
        reason: task.payload.reason ?? null,
        summary:
          `Data export of tenant ${slug} is ready: ${rows} rows from ${tables} tables and ${outcome.documents} documents, ` +
          `${outcome.bytes} bytes, SHA-256 ${outcome.sha256} (data subject request ${done.id}). Fetch it before ` +
          `${link.expiresAt.toISOString()} with: npm run dsr -- download ${done.id} --token ${token} --out ${slug}.tar.gz`,
      },
      { idempotencyKey: task.id, signal, logLevel: "warn" },
    );
  };
}
