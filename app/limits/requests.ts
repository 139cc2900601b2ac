// Limit-increase requests: the one module that reads and writes limit_increase_requests, for the API
// (a tenant asks, and reads where its requests stand) and for ops (`npm run limits`: grant or decline).
// A request is decided once: the decision takes the row's lock, refuses anything not open, and records
// who decided, why and what was granted in the same transaction that queues the tenant's notice.
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { METERS, type Meter } from "../metering/meters.ts";

/** The largest allowance anyone may ask for or grant: far beyond any plan, well inside bigint. */
export const MAX_LIMIT = 1_000_000_000;

export const LIMIT_REQUEST_STATUSES = ["open", "granted", "declined"] as const;
export type LimitRequestStatus = (typeof LIMIT_REQUEST_STATUSES)[number];

export const limitIncreaseRequestBody = z.strictObject({
  meter: z.enum(METERS, `must be one of ${METERS.join(", ")}`),
  requestedLimit: z
    .number("must be a number of units per period")
    .int("must be a whole number")
    .positive("must be more than 0")
    .max(MAX_LIMIT, "must be at most 1,000,000,000"),
  reason: z
    .string("must say why the increase is needed")
    .trim()
    .min(3, "must say why (at least 3 characters)")
    .max(2000),
});
export type LimitIncreaseRequestBody = z.infer<typeof limitIncreaseRequestBody>;

/** A request as the tenant (and ops) see it. */
export const limitIncreaseRequestView = z.object({
  id: z.uuid(),
  meter: z.enum(METERS),
  requestedLimit: z.number().int(),
  reason: z.string(),
  status: z.enum(LIMIT_REQUEST_STATUSES),
  createdAt: z.iso.datetime(),
  decidedAt: z.iso.datetime().nullable(),
  /** What was granted: units per period included, and the new ceiling. */
  granted: z.object({ included: z.number().int(), hardCeiling: z.number().int() }).nullable(),
  /** Why ops declined (or a note with a grant). */
  decisionReason: z.string().nullable(),
});
export type LimitIncreaseRequestView = z.infer<typeof limitIncreaseRequestView>;

export interface LimitRequestRow {
  id: string;
  tenant_id: string;
  meter: Meter;
  requested_limit: string | number;
  reason: string;
  status: LimitRequestStatus;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_reason: string | null;
  granted_included: string | number | null;
  granted_hard_ceiling: string | number | null;
}

const COLUMN_NAMES = [
  "id",
  "tenant_id",
  "meter",
  "requested_limit",
  "reason",
  "status",
  "created_at",
  "decided_at",
  "decided_by",
  "decision_reason",
  "granted_included",
  "granted_hard_ceiling",
];
const columns = (alias = "") => COLUMN_NAMES.map((c) => alias + c).join(", ");
const COLUMNS = columns();

export function requestView(row: LimitRequestRow): LimitIncreaseRequestView {
  return {
    id: row.id,
    meter: row.meter,
    requestedLimit: Number(row.requested_limit),
    reason: row.reason,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    decidedAt: row.decided_at?.toISOString() ?? null,
    granted:
      row.status === "granted"
        ? { included: Number(row.granted_included), hardCeiling: Number(row.granted_hard_ceiling) }
        : null,
    decisionReason: row.decision_reason,
  };
}

/**
 * Records a tenant's request and tells ops, in the caller's tenant transaction: the request and its
 * ops task commit together, so there is never a request ops did not hear of.
 */
export async function createRequest(db: Db, body: LimitIncreaseRequestBody): Promise<LimitRequestRow> {
  const { rows } = await db.query<LimitRequestRow>(
    `INSERT INTO limit_increase_requests (tenant_id, meter, requested_limit, reason)
     VALUES (current_tenant_id(), $1, $2, $3) RETURNING ${COLUMNS}`,
    [body.meter, body.requestedLimit, body.reason],
  );
  const row = rows[0]!;
  const { rows: current } = await db.query<{ included: string; hard_ceiling: string; period: string }>(
    "SELECT included, hard_ceiling, period FROM entitlements WHERE tenant_id = current_tenant_id() AND meter = $1",
    [body.meter],
  );
  await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
     VALUES ($1, 'limit_increase_requested', $2, $3) ON CONFLICT (dedupe_key) DO NOTHING`,
    [
      row.tenant_id,
      JSON.stringify({
        requestId: row.id,
        meter: body.meter,
        requestedLimit: body.requestedLimit,
        reason: body.reason,
        currentIncluded: current[0] ? Number(current[0].included) : null,
        currentHardCeiling: current[0] ? Number(current[0].hard_ceiling) : null,
        period: current[0]?.period ?? null,
      }),
      `limit-increase-requested:${row.id}`,
    ],
  );
  return row;
}

/** The tenant's own requests (row security narrows to the tenant in context), newest first. */
export async function listRequests(
  db: Db,
  filter: { status?: LimitRequestStatus; limit: number },
): Promise<LimitRequestRow[]> {
  const { rows } = await db.query<LimitRequestRow>(
    `SELECT ${COLUMNS} FROM limit_increase_requests
      WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC, id LIMIT $2`,
    [filter.status ?? null, filter.limit],
  );
  return rows;
}

export async function getRequest(db: Db, id: string): Promise<LimitRequestRow | undefined> {
  const { rows } = await db.query<LimitRequestRow>(
    `SELECT ${COLUMNS} FROM limit_increase_requests WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/** Ops' view across tenants (freight_operator): open requests first, each with its tenant's slug. */
export async function listForOps(
  db: Pick<Db, "query">,
  status: LimitRequestStatus | undefined,
): Promise<(LimitRequestRow & { slug: string })[]> {
  const { rows } = await db.query<LimitRequestRow & { slug: string }>(
    `SELECT ${columns("r.")}, t.slug
       FROM limit_increase_requests r JOIN tenants t ON t.id = r.tenant_id
      WHERE ($1::text IS NULL OR r.status = $1) ORDER BY r.created_at`,
    [status ?? null],
  );
  return rows;
}

export class DecisionRefused extends Error {}

/** The request, locked until the decision commits; refused unless it exists and is still open. */
export async function lockOpenRequest(db: Db, id: string): Promise<LimitRequestRow & { slug: string }> {
  if (!z.uuid().safeParse(id).success)
    throw new DecisionRefused(
      `"${id}" is not a request id (a UUID); list open requests with: npm run limits -- list`,
    );
  const { rows } = await db.query<LimitRequestRow & { slug: string }>(
    `SELECT ${columns("r.")}, t.slug
       FROM limit_increase_requests r JOIN tenants t ON t.id = r.tenant_id WHERE r.id = $1 FOR UPDATE OF r`,
    [id],
  );
  const row = rows[0];
  if (!row)
    throw new DecisionRefused(
      `no limit-increase request ${id} exists (it may have been removed with its tenant); list open requests with: npm run limits -- list`,
    );
  if (row.status !== "open")
    throw new DecisionRefused(
      `request ${id} was already ${row.status} on ${row.decided_at?.toISOString()} by ${row.decided_by}` +
        (row.decision_reason ? ` (${row.decision_reason})` : "") +
        "; nothing changed. A new need is a new request.",
    );
  return row;
}

export interface CurrentAllowance {
  included: number;
  hardCeiling: number;
}

export interface Grant {
  included: number;
  hardCeiling: number;
}

/**
 * What a grant sets, or why it makes no sense. The amount defaults to what the tenant asked for; the
 * ceiling keeps the tenant's current headroom above what is included unless ops names one.
 */
export function decideGrant(
  request: { meter: string; requestedLimit: number },
  current: CurrentAllowance | undefined,
  options: { amount?: number; ceiling?: number },
): Grant {
  const included = options.amount ?? request.requestedLimit;
  const check = (value: number, flag: string) => {
    if (!Number.isSafeInteger(value) || value <= 0 || value > MAX_LIMIT)
      throw new DecisionRefused(
        `${flag} ${value} is not a whole number of units between 1 and ${MAX_LIMIT.toLocaleString("en-US")}`,
      );
  };
  check(included, "--amount");
  if (current && included <= current.included)
    throw new DecisionRefused(
      `--amount ${included} is not above the ${current.included} ${request.meter} the tenant already has included; ` +
        "pass a larger --amount, or decline the request with a reason",
    );
  const headroom = current ? Math.max(0, current.hardCeiling - current.included) : 0;
  const hardCeiling = options.ceiling ?? Math.min(MAX_LIMIT, included + headroom);
  check(hardCeiling, "--ceiling");
  if (hardCeiling < included)
    throw new DecisionRefused(
      `--ceiling ${hardCeiling} is below --amount ${included}: usage the grant includes would be denied; raise --ceiling to at least ${included}`,
    );
  return { included, hardCeiling };
}

/** Records the decision on the locked request and queues the tenant's email, in the caller's transaction. */
export async function recordDecision(
  db: Db,
  request: LimitRequestRow,
  decision:
    | { status: "granted"; by: string; grant: Grant; note?: string }
    | { status: "declined"; by: string; reason: string },
): Promise<LimitRequestRow> {
  const granted = decision.status === "granted" ? decision.grant : undefined;
  const reason = decision.status === "declined" ? decision.reason : (decision.note ?? null);
  const { rows } = await db.query<LimitRequestRow>(
    `UPDATE limit_increase_requests
        SET status = $2, decided_at = now(), decided_by = $3, decision_reason = $4,
            granted_included = $5, granted_hard_ceiling = $6
      WHERE id = $1 AND status = 'open' RETURNING ${COLUMNS}`,
    [
      request.id,
      decision.status,
      decision.by,
      reason,
      granted?.included ?? null,
      granted?.hardCeiling ?? null,
    ],
  );
  const row = rows[0];
  if (!row) throw new DecisionRefused(`request ${request.id} is no longer open; nothing changed`);
  await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key) VALUES ($1, 'tenant_notice', $2, $3)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [
      request.tenant_id,
      JSON.stringify({
        notice: decision.status === "granted" ? "limit_increase_granted" : "limit_increase_declined",
        requestId: request.id,
        meter: request.meter,
        requestedLimit: Number(request.requested_limit),
        ...(granted ? { included: granted.included, hardCeiling: granted.hardCeiling } : {}),
        reason,
      }),
      `limit-increase-decided:${request.id}`,
    ],
  );
  return row;
}
