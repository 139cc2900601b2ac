// A data subject request's life: received -> verified -> in_progress -> completed, or denied from
// received or verified; due 7 days after receipt. Every step is one guarded UPDATE (it names the
// status it expects, so two racing steps cannot both apply) and one dsr_events row in the same
// transaction: the status is the current fact, the events are the history nobody can rewrite.
// Verifying queues the dsr_fulfil agent task the runner fulfils the request with (fulfil.ts).
import type { Db } from "../../db/pool.ts";
import { ERASURE_PLAN } from "./plan.ts";
import {
  identifierSubject,
  subjectHash,
  subjectIdentifier,
  tenantIdentifier,
  type Subject,
  type SubjectRequestScope,
} from "./subject.ts";

export const DSR_KINDS = ["access", "erasure"] as const;
export type DsrKind = (typeof DSR_KINDS)[number];
export const DSR_STATUSES = ["received", "verified", "in_progress", "completed", "denied"] as const;
export type DsrStatus = (typeof DSR_STATUSES)[number];
/** How long a request may take from receipt: the plan's promise to customers. */
export const DSR_DUE_DAYS = 7;
export const FULFIL_TASK_KIND = "dsr_fulfil";

export type DsrErrorCode =
  | "not-found"
  | "not-verified"
  | "invalid-transition"
  | "subject-not-found"
  | "already-erased"
  | "erasure-pending"
  | "link-expired"
  | "incomplete";

/** A refusal with what to do about it; the API maps `code` to a problem type, the CLI to exit 1. */
export class DsrError extends Error {
  readonly code: DsrErrorCode;
  constructor(code: DsrErrorCode, message: string) {
    super(message);
    this.name = "DsrError";
    this.code = code;
  }
}

type Action = "verify" | "start" | "complete" | "deny";

const TRANSITIONS: Record<Action, { from: DsrStatus[]; to: DsrStatus }> = {
  verify: { from: ["received"], to: "verified" },
  start: { from: ["verified", "in_progress"], to: "in_progress" },
  complete: { from: ["in_progress"], to: "completed" },
  deny: { from: ["received", "verified"], to: "denied" },
};

/** The status `action` leads to from `status`, or the refusal naming what would have to be true. */
export function nextStatus(id: string, status: DsrStatus, action: Action): DsrStatus {
  const { from, to } = TRANSITIONS[action];
  if (from.includes(status)) return to;
  if (action === "start" && status === "received")
    throw new DsrError(
      "not-verified",
      `request ${id} is received but its requester is not verified: verify their identity first ` +
        `(npm run dsr -- verify ${id} --by <who> --method <how>, or POST /v1/data-requests/${id}/verification)`,
    );
  throw new DsrError(
    "invalid-transition",
    `request ${id} is ${status}; it can be ${action === "deny" ? "denied" : `${action}ed`} only when ${from.join(" or ")}`,
  );
}

export interface DsrRequest {
  id: string;
  tenantId: string;
  kind: DsrKind;
  scope: SubjectRequestScope;
  subjectHash: string;
  /** The identifier as given (email:... or id:...), cleared once the request is done. */
  subjectRef: string | null;
  status: DsrStatus;
  requestedBy: string;
  receivedAt: Date;
  dueAt: Date;
  verifiedAt: Date | null;
  verifiedBy: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  deniedAt: Date | null;
  denyReason: string | null;
  outcome: Record<string, unknown> | null;
}

export interface DsrEvent {
  event: string;
  actor: string;
  detail: Record<string, unknown>;
  at: Date;
}

const COLUMNS = `id, tenant_id AS "tenantId", kind, scope, subject_hash AS "subjectHash", subject_ref AS "subjectRef",
  status, requested_by AS "requestedBy", received_at AS "receivedAt", due_at AS "dueAt", verified_at AS "verifiedAt",
  verified_by AS "verifiedBy", started_at AS "startedAt", completed_at AS "completedAt", denied_at AS "deniedAt",
  deny_reason AS "denyReason", outcome`;

export async function recordEvent(
  db: Db,
  request: Pick<DsrRequest, "id" | "tenantId">,
  event: string,
  actor: string,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await db.query(
    "INSERT INTO dsr_events (request_id, tenant_id, event, actor, detail) VALUES ($1, $2, $3, $4, $5)",
    [request.id, request.tenantId, event, actor, JSON.stringify(detail)],
  );
}

/** Rows of the plan's identifying columns that name the subject, in the tenant in context. */
export async function subjectFootprint(db: Db, subject: Subject): Promise<number> {
  const value = "email" in subject ? subject.email.trim().toLowerCase() : subject.id;
  let found = 0;
  for (const plan of ERASURE_PLAN) {
    const column = "email" in subject ? plan.subject?.match.email : plan.subject?.match.id;
    if (!column) continue;
    const compare = "email" in subject ? `lower(${column})` : column;
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${plan.table} WHERE tenant_id = current_tenant_id() AND ${compare} = $1`,
      [value],
    );
    found += rows[0]!.n;
  }
  return found;
}

export interface NewRequest {
  kind: DsrKind;
  scope: SubjectRequestScope;
  subject?: Subject;
  requestedBy: string;
}

/**
 * Records a request for the tenant in context. A subject the tenant holds nothing about is refused
 * (it is another tenant's, or nobody's); so is an erasure of a subject already erased or pending.
 */
export async function receiveRequest(db: Db, tenantId: string, request: NewRequest): Promise<DsrRequest> {
  const identifier =
    request.scope === "tenant" ? tenantIdentifier(tenantId) : subjectIdentifier(request.subject!);
  const hash = subjectHash(tenantId, identifier);
  if (request.kind === "erasure") {
    const { rows: erased } = await db.query<{ request_id: string; erased_at: Date }>(
      "SELECT request_id, erased_at FROM dsr_tombstones WHERE tenant_id = $1 AND subject_hash = $2",
      [tenantId, hash],
    );
    if (erased[0])
      throw new DsrError(
        "already-erased",
        `this subject was erased on ${erased[0].erased_at.toISOString().slice(0, 10)} by request ${erased[0].request_id}; ` +
          "nothing is left to erase, and nothing about them is recorded again",
      );
    const { rows: pending } = await db.query<{ id: string; status: string }>(
      `SELECT id, status FROM dsr_requests WHERE tenant_id = $1 AND subject_hash = $2 AND kind = 'erasure'
          AND status <> 'denied'`,
      [tenantId, hash],
    );
    if (pending[0])
      throw new DsrError(
        "erasure-pending",
        `an erasure of this subject is already ${pending[0].status} (request ${pending[0].id}); follow that one`,
      );
  }
  if (request.scope === "subject" && (await subjectFootprint(db, request.subject!)) === 0)
    throw new DsrError(
      "subject-not-found",
      "this tenant holds no data about that subject: a request is filed with the tenant whose customer the person is; " +
        "check the address or id",
    );
  const { rows } = await db.query<DsrRequest>(
    `INSERT INTO dsr_requests (tenant_id, kind, scope, subject_hash, subject_ref, requested_by, received_at, due_at)
     VALUES ($1, $2, $3, $4, $5, $6, now(), now() + interval '${DSR_DUE_DAYS * 24} hours')
     RETURNING ${COLUMNS}`,
    [
      tenantId,
      request.kind,
      request.scope,
      hash,
      request.scope === "tenant" ? null : identifier,
      request.requestedBy,
    ],
  );
  const created = rows[0]!;
  await recordEvent(db, created, "received", request.requestedBy, {
    kind: request.kind,
    scope: request.scope,
  });
  return created;
}

export async function findRequest(db: Db, id: string): Promise<DsrRequest | undefined> {
  const { rows } = await db.query<DsrRequest>(`SELECT ${COLUMNS} FROM dsr_requests WHERE id = $1`, [id]);
  return rows[0];
}

async function requireRequest(db: Db, id: string): Promise<DsrRequest> {
  const request = await findRequest(db, id);
  if (!request) throw new DsrError("not-found", `no data subject request ${id}`);
  return request;
}

/** Applies `action` if the request is still in the status it was read in; else the refusal. */
async function step(db: Db, id: string, action: Action, set: string, params: unknown[]): Promise<DsrRequest> {
  const current = await requireRequest(db, id);
  const to = nextStatus(id, current.status, action);
  const { rows } = await db.query<DsrRequest>(
    `UPDATE dsr_requests SET status = $2${set ? `, ${set}` : ""} WHERE id = $1 AND status = $3 RETURNING ${COLUMNS}`,
    [id, to, current.status, ...params],
  );
  if (!rows[0]) return step(db, id, action, set, params);
  return rows[0];
}

/**
 * The requester's identity was checked (`method`: how), by `verifiedBy`; fulfilment is queued, unless
 * the caller fulfils it itself (a deleted Tenant's data_export task).
 */
export async function verifyRequest(
  db: Db,
  id: string,
  verifiedBy: string,
  method: string,
  options: { queueFulfilment?: boolean } = {},
): Promise<DsrRequest> {
  const request = await step(db, id, "verify", "verified_at = now(), verified_by = $4", [verifiedBy]);
  await recordEvent(db, request, "verified", verifiedBy, { method });
  if (options.queueFulfilment === false) return request;
  await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key) VALUES ($1, 'dsr_fulfil', $2, $3)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [request.tenantId, JSON.stringify({ requestId: id }), `${FULFIL_TASK_KIND}:${id}`],
  );
  return request;
}

export async function denyRequest(db: Db, id: string, actor: string, reason: string): Promise<DsrRequest> {
  const request = await step(db, id, "deny", "denied_at = now(), deny_reason = $4", [reason]);
  await recordEvent(db, request, "denied", actor, { reason });
  return request;
}

/** Fulfilment begins (or resumes after a crash: in_progress -> in_progress records nothing new). */
export async function startRequest(db: Db, id: string, actor: string): Promise<DsrRequest> {
  const before = await requireRequest(db, id);
  const request = await step(db, id, "start", "started_at = coalesce(started_at, now())", []);
  if (before.status !== "in_progress") await recordEvent(db, request, "in_progress", actor);
  return request;
}

/** Done: the outcome recorded and the identifier as given forgotten (the hash remains). */
export async function completeRequest(
  db: Db,
  id: string,
  actor: string,
  outcome: Record<string, unknown>,
): Promise<DsrRequest> {
  const request = await step(db, id, "complete", "completed_at = now(), subject_ref = NULL, outcome = $4", [
    JSON.stringify(outcome),
  ]);
  await recordEvent(db, request, "completed", actor, outcome);
  return request;
}

export async function requestEvents(db: Db, id: string): Promise<DsrEvent[]> {
  const { rows } = await db.query<DsrEvent>(
    "SELECT event, actor, detail, at FROM dsr_events WHERE request_id = $1 ORDER BY id",
    [id],
  );
  return rows;
}

/** The subject a request names, for fulfilment. */
export function requestSubject(request: DsrRequest): Subject | undefined {
  return request.subjectRef ? identifierSubject(request.subjectRef) : undefined;
}
