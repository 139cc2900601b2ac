// data_export agent tasks: everything an offboarded tenant owns, as one archive in data_exports, then
// ops told it is ready. The tenant controller queues the task when a Tenant is deleted; offboarding
// only disables the tenant and its keys (operators/controllers/tenant/store.ts), so the rows are all
// still there when the export runs, and anything that later erases a tenant must first find its
// data_exports row. "Every table the tenant owns" is read from the catalog at export time (every
// table with a tenant_id column, and the tenant's own row), in the tenant's row-level security
// context and one REPEATABLE READ snapshot, so a table added later is exported without a code change
// and no other tenant's row can be read. Columns the runner may not read (API key hashes) are left out
// and listed in the archive's header. A retried task reuses the archive it already stored.
import { createHash } from "node:crypto";
import { createGzip, gunzipSync } from "node:zlib";
import pg from "pg";
import { withTenant } from "../db/pool.ts";
import type { ClaimedAgentTask } from "../jobs/queue.ts";
import { deliverOpsEvent, type OpsDelivery } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export const EXPORT_FORMAT = "jsonl+gzip";
/** Rows fetched per round trip: bounds the runner's memory per table, not the archive's size. */
const FETCH_ROWS = 1_000;
/**
 * Not the tenant's data: the archives themselves, and the hashes of data-subject export links
 * (credentials, which the runner is not granted to read: migration 0017).
 */
const NOT_EXPORTED = new Set(["data_exports", "dsr_export_links"]);

export interface ExportHeader {
  format: "freight-tenant-export";
  version: 1;
  tenantId: string;
  exportedAt: string;
  tables: string[];
  omittedColumns: Record<string, string[]>;
}

export interface StoredExport {
  id: string;
  taskId: string;
  tenantId: string;
  tenantSlug: string;
  bytes: number;
  sha256: string;
  rowCounts: Record<string, number>;
  omittedColumns: Record<string, string[]>;
  createdAt: Date;
}

/** The tables whose rows belong to a tenant (the RLS probe's definition), as this role sees the catalog. */
export const TENANT_TABLES_SQL = `
SELECT c.oid::regclass::text AS qualified, c.relname AS name,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE has_column_privilege(c.oid, a.attnum, 'SELECT')), '{}'::text[]) AS readable,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE NOT has_column_privilege(c.oid, a.attnum, 'SELECT')), '{}'::text[]) AS omitted
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped)
 GROUP BY c.oid, c.relname
 ORDER BY c.relname`;

/** Reads everything `tenantId` owns into one gzip'd JSON Lines archive. */
export async function exportTenant(
  pool: pg.Pool,
  tenantId: string,
  signal?: AbortSignal,
): Promise<{ archive: Buffer; header: ExportHeader; rowCounts: Record<string, number> }> {
  const db = await pool.connect();
  const gzip = createGzip();
  const chunks: Buffer[] = [];
  gzip.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => gzip.on("end", resolve).on("error", reject));
  let broken: Error | undefined;
  try {
    await db.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT set_config('app.tenant_id', ${pg.escapeLiteral(tenantId)}, true)`,
    );
    const { rows: tables } = await db.query<{
      qualified: string;
      name: string;
      readable: string[];
      omitted: string[];
    }>(TENANT_TABLES_SQL);
    const exported = tables.filter((t) => !NOT_EXPORTED.has(t.name));
    const unreadable = exported.filter((t) => !t.readable.includes("tenant_id"));
    if (unreadable.length)
      throw new PermanentTaskError(
        `the runner cannot read tenant table(s) ${unreadable.map((t) => t.name).join(", ")}, so the export would be incomplete; ` +
          "protect each with protect_tenant_table() (it grants the runner the export read) in a migration",
      );
    const header: ExportHeader = {
      format: "freight-tenant-export",
      version: 1,
      tenantId,
      exportedAt: new Date().toISOString(),
      tables: ["tenants", ...exported.map((t) => t.name)],
      omittedColumns: Object.fromEntries(
        exported.filter((t) => t.omitted.length).map((t) => [t.name, t.omitted]),
      ),
    };
    gzip.write(`${JSON.stringify(header)}\n`);
    const rowCounts: Record<string, number> = {};
    const copy = async (table: string, select: string) => {
      rowCounts[table] = 0;
      await db.query(
        `DECLARE export_rows NO SCROLL CURSOR FOR SELECT row_to_json(r)::text AS line FROM (${select}) r`,
      );
      for (;;) {
        if (signal?.aborted) throw signal.reason as Error;
        const { rows } = await db.query<{ line: string }>(`FETCH ${FETCH_ROWS} FROM export_rows`);
        for (const row of rows) gzip.write(`{"table":${JSON.stringify(table)},"row":${row.line}}\n`);
        rowCounts[table] += rows.length;
        if (rows.length < FETCH_ROWS) break;
      }
      await db.query("CLOSE export_rows");
    };
    await copy("tenants", "SELECT * FROM tenants WHERE id = current_tenant_id()");
    if (rowCounts.tenants !== 1)
      throw new PermanentTaskError(`tenant ${tenantId} does not exist; nothing to export`);
    for (const table of exported) {
      const columns = table.readable.map((c) => pg.escapeIdentifier(c)).join(", ");
      // The explicit filter as well as the policy: the runner's queue policies see every tenant's tasks.
      await copy(
        table.name,
        `SELECT ${columns} FROM ${table.qualified} WHERE tenant_id = current_tenant_id()`,
      );
    }
    await db.query("COMMIT");
    gzip.end();
    await ended;
    return { archive: Buffer.concat(chunks), header, rowCounts };
  } catch (error) {
    gzip.destroy();
    await db.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    db.release(broken);
  }
}

interface ExportRow {
  id: string;
  task_id: string;
  tenant_id: string;
  tenant_slug: string;
  bytes: number;
  sha256: string;
  row_counts: Record<string, number>;
  omitted_columns: Record<string, string[]>;
  created_at: Date;
}

const EXPORT_COLUMNS =
  "id, task_id, tenant_id, tenant_slug, bytes, sha256, row_counts, omitted_columns, created_at";

const stored = (r: ExportRow): StoredExport => ({
  id: r.id,
  taskId: r.task_id,
  tenantId: r.tenant_id,
  tenantSlug: r.tenant_slug,
  bytes: r.bytes,
  sha256: r.sha256,
  rowCounts: r.row_counts,
  omittedColumns: r.omitted_columns,
  createdAt: r.created_at,
});

/** The archive of a task, exported now or found from an earlier attempt. */
export async function storeTenantExport(
  pool: pg.Pool,
  task: ClaimedAgentTask,
  signal?: AbortSignal,
): Promise<StoredExport> {
  const existing = await withTenant(pool, task.tenantId, (db) =>
    db.query<ExportRow>(`SELECT ${EXPORT_COLUMNS} FROM data_exports WHERE task_id = $1`, [task.id]),
  );
  if (existing.rows[0]) return stored(existing.rows[0]);
  const { archive, rowCounts, header } = await exportTenant(pool, task.tenantId, signal);
  const slug = typeof task.payload.slug === "string" ? task.payload.slug : task.tenantId;
  const reason = typeof task.payload.reason === "string" ? task.payload.reason : "requested";
  return withTenant(pool, task.tenantId, async (db) => {
    const { rows } = await db.query<ExportRow>(
      `INSERT INTO data_exports (tenant_id, task_id, tenant_slug, reason, format, archive, bytes, sha256, row_counts, omitted_columns)
       VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (task_id) DO NOTHING RETURNING ${EXPORT_COLUMNS}`,
      [
        task.id,
        slug,
        reason,
        EXPORT_FORMAT,
        archive,
        archive.length,
        createHash("sha256").update(archive).digest("hex"),
        JSON.stringify(rowCounts),
        JSON.stringify(header.omittedColumns),
      ],
    );
    // Another runner that took over an expired lease stored it first: theirs is as good.
    const row =
      rows[0] ??
      (await db.query<ExportRow>(`SELECT ${EXPORT_COLUMNS} FROM data_exports WHERE task_id = $1`, [task.id]))
        .rows[0];
    return stored(row!);
  });
}

export function dataExportHandler(options: OpsDelivery & { pool: pg.Pool }): AgentTaskHandler {
  return async (task, { signal, log }) => {
    const result = await storeTenantExport(options.pool, task, signal);
    const rows = Object.values(result.rowCounts).reduce((a, b) => a + b, 0);
    const tables = Object.keys(result.rowCounts).length;
    log.info(
      { export: result.id, tenant: result.tenantSlug, bytes: result.bytes, rows },
      "tenant data exported",
    );
    await deliverOpsEvent(
      options,
      {
        event: "data_export_ready",
        severity: "ticket",
        taskId: task.id,
        tenantId: task.tenantId,
        tenantSlug: result.tenantSlug,
        exportId: result.id,
        bytes: result.bytes,
        sha256: result.sha256,
        rowCounts: result.rowCounts,
        omittedColumns: result.omittedColumns,
        reason: task.payload.reason ?? null,
        summary:
          `Data export of tenant ${result.tenantSlug} is ready: ${rows} rows from ${tables} tables, ${result.bytes} bytes ` +
          `(data_exports id ${result.id}); fetch it with: node app/ops/data-export.ts --export ${result.id} --out ${result.tenantSlug}.jsonl.gz`,
      },
      { idempotencyKey: task.id, signal, logLevel: "warn" },
    );
  };
}

/** An archive's lines, parsed: the header, then each table's rows in the order written. */
export function readArchive(archive: Buffer): { header: ExportHeader; rows: Record<string, unknown[]> } {
  const lines = gunzipSync(archive).toString("utf8").split("\n").filter(Boolean);
  const header = JSON.parse(lines[0] ?? "null") as ExportHeader;
  if (header?.format !== "freight-tenant-export")
    throw new Error("not a freight tenant export: the first line is not its header");
  const rows: Record<string, unknown[]> = {};
  for (const line of lines.slice(1)) {
    const { table, row } = JSON.parse(line) as { table: string; row: unknown };
    (rows[table] ??= []).push(row);
  }
  return { header, rows };
}
