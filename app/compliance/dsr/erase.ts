// Erasure by the plan (plan.ts), and the scan that proves it: after the writes, and in the same
// transaction, every listed table is searched for the subject's identifiers (or, for a tenant, for
// any personal column not yet masked); one hit rolls the whole erasure back and fails the task, so
// a request is never completed with personal data left. Tombstones (hashed identifiers) are written
// in the same transaction: a later import of the same address or id is refused by the database.
import type { Db } from "../../db/pool.ts";
import type { RegionRole } from "../../region.ts";
import { DsrError } from "./lifecycle.ts";
import { ERASURE_PLAN, tenantColumn, type ErasureAction, type SubjectMatch, type TablePlan } from "./plan.ts";
import { subjectHash, tenantIdentifier, type Subject } from "./subject.ts";

/** Every identifier one person is known by in the tenant: the given one and those linked to it. */
export interface SubjectIdentifiers {
  emails: string[];
  ids: string[];
}

/** Follows the links the tables hold (a sign-in id's sessions carry its address, and back). */
export async function linkedIdentifiers(db: Db, subject: Subject): Promise<SubjectIdentifiers> {
  const emails = new Set("email" in subject ? [subject.email.trim().toLowerCase()] : []);
  const ids = new Set("id" in subject ? [subject.id] : []);
  const { rows } = await db.query<{ subject: string; email: string | null }>(
    `SELECT subject, lower(email) AS email FROM sso_sessions
      WHERE tenant_id = current_tenant_id() AND (subject = ANY($1) OR lower(email) = ANY($2))`,
    [[...ids], [...emails]],
  );
  for (const row of rows) {
    ids.add(row.subject);
    if (row.email) emails.add(row.email);
  }
  return { emails: [...emails].sort(), ids: [...ids].sort() };
}

/** The SQL condition "this row is the subject's" for a table's match, and its parameters. */
export function subjectWhere(
  match: SubjectMatch | undefined,
  ids: SubjectIdentifiers,
): { sql: string; params: unknown[] } | undefined {
  if (!match) return undefined;
  const parts: string[] = [];
  const params: unknown[] = [];
  if (match.email) parts.push(`lower(${match.email}) = ANY($${params.push(ids.emails)}::text[])`);
  if (match.id) parts.push(`${match.id} = ANY($${params.push(ids.ids)}::text[])`);
  return { sql: `(${parts.join(" OR ")})`, params };
}

async function apply(db: Db, plan: TablePlan, action: ErasureAction, where: string, params: unknown[]) {
  if (action.kind === "keep") return 0;
  const scope = `${tenantColumn(plan)} = current_tenant_id() AND ${where}`;
  const sql =
    action.kind === "delete"
      ? `DELETE FROM ${plan.table} WHERE ${scope}`
      : `UPDATE ${plan.table} SET ${Object.entries(action.set)
          .map(([column, value]) => `${column} = ${value}`)
          .join(", ")} WHERE ${scope}`;
  return (await db.query(sql, params)).rowCount ?? 0;
}

/** Rows per listed table still holding the subject's personal data; all zero after an erasure. */
export async function scanSubject(db: Db, ids: SubjectIdentifiers): Promise<Record<string, number>> {
  const remaining: Record<string, number> = {};
  for (const plan of ERASURE_PLAN) {
    const match = subjectWhere(plan.subject?.match, ids);
    if (!match) continue;
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${plan.table} WHERE tenant_id = current_tenant_id() AND ${match.sql}`,
      match.params,
    );
    remaining[plan.table] = rows[0]!.n;
  }
  return remaining;
}

/** Rows per listed table of the tenant in context whose personal columns are not erased. */
export async function scanTenant(db: Db): Promise<Record<string, number>> {
  const remaining: Record<string, number> = {};
  for (const plan of ERASURE_PLAN) {
    const action = plan.tenant;
    if (action.kind === "keep" || !plan.personal.length) continue;
    const left =
      action.kind === "delete"
        ? "true"
        : plan.personal
            .map((column) => `(${column} IS NOT NULL AND ${column} IS DISTINCT FROM ${action.set[column]})`)
            .join(" OR ");
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${plan.table} WHERE ${tenantColumn(plan)} = current_tenant_id() AND (${left})`,
    );
    remaining[plan.table] = rows[0]!.n;
  }
  return remaining;
}

function refuseLeftovers(remaining: Record<string, number>): void {
  const left = Object.entries(remaining).filter(([, n]) => n > 0);
  if (left.length)
    throw new DsrError(
      "incomplete",
      `the erasure scan found personal data left in ${left.map(([t, n]) => `${t} (${n} rows)`).join(", ")}: ` +
        "nothing was erased; the erasure plan (app/compliance/dsr/plan.ts) misses what wrote them",
    );
}

async function tombstone(db: Db, tenantId: string, requestId: string, identifiers: string[]) {
  for (const identifier of identifiers)
    await db.query(
      `INSERT INTO dsr_tombstones (tenant_id, subject_hash, request_id) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [tenantId, subjectHash(tenantId, identifier), requestId],
    );
}

export interface ErasureResult {
  rows: Record<string, number>;
  scan: Record<string, number>;
  tombstones: number;
}

/** Erases one end user of the tenant in context; `db` is inside the fulfilment's transaction. */
export async function eraseSubject(
  db: Db,
  tenantId: string,
  requestId: string,
  subject: Subject,
): Promise<ErasureResult> {
  const ids = await linkedIdentifiers(db, subject);
  const rows: Record<string, number> = {};
  for (const plan of ERASURE_PLAN) {
    const match = subjectWhere(plan.subject?.match, ids);
    if (!match || !plan.subject) continue;
    rows[plan.table] = await apply(db, plan, plan.subject.action, match.sql, match.params);
  }
  const scan = await scanSubject(db, ids);
  refuseLeftovers(scan);
  const identifiers = [...ids.emails.map((e) => `email:${e}`), ...ids.ids.map((i) => `id:${i}`)];
  await tombstone(db, tenantId, requestId, identifiers);
  return { rows, scan, tombstones: identifiers.length };
}

/** A stored document file erasure removes (every version the row pinned, in both regions' buckets). */
export interface ErasedObject {
  key: string;
  versionId: string | null;
  storedIn: RegionRole;
}

/** The files a tenant erasure removes: read before the rows are masked. */
export async function objectsToErase(db: Db): Promise<ErasedObject[]> {
  const plan = ERASURE_PLAN.find((p) => p.objects)!;
  const { rows } = await db.query<ErasedObject>(
    `SELECT object_key AS key, version_id AS "versionId", stored_in AS "storedIn" FROM ${plan.table}
      WHERE tenant_id = current_tenant_id() AND NOT (${plan.objects!.keepWhere}) AND version_id IS NOT NULL`,
  );
  return rows;
}

/** Erases the tenant in context (its files are removed by the caller first, see fulfil.ts). */
export async function eraseTenant(db: Db, tenantId: string, requestId: string): Promise<ErasureResult> {
  const rows: Record<string, number> = {};
  for (const plan of ERASURE_PLAN) rows[plan.table] = await apply(db, plan, plan.tenant, "true", []);
  const scan = await scanTenant(db);
  refuseLeftovers(scan);
  await tombstone(db, tenantId, requestId, [tenantIdentifier(tenantId)]);
  return { rows, scan, tombstones: 1 };
}
