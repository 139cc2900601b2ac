// Deal desk guardrails: how much discount a contract term allows at most, who may approve how much,
// and an append-only audit of every decision (approved or refused). The policy is code, reviewed like
// code; the audit is the discount_approvals table, which refuses UPDATE and DELETE.
import type pg from "pg";

export const TERMS = ["monthly", "annual", "prepay"] as const;
export type Term = (typeof TERMS)[number];

/** The most any approver may grant per term: commitment buys discount. */
export const MAX_DISCOUNT_PERCENT: Record<Term, number> = { monthly: 10, annual: 20, prepay: 30 };

/** Who may approve up to what percentage, from least to most authority. */
export const APPROVAL_MATRIX = [
  { role: "account_executive", upToPercent: 5 },
  { role: "sales_manager", upToPercent: 10 },
  { role: "sales_director", upToPercent: 20 },
  { role: "cfo", upToPercent: 30 },
] as const;
export type ApproverRole = (typeof APPROVAL_MATRIX)[number]["role"];
export const APPROVER_ROLES = APPROVAL_MATRIX.map((a) => a.role) as ApproverRole[];

export type DiscountDecision =
  | { decision: "approved"; detail: string }
  | { decision: "refused"; requiredRole: ApproverRole | null; detail: string };

export function decideDiscount(request: {
  term: Term;
  percent: number;
  role: ApproverRole;
}): DiscountDecision {
  const { term, percent, role } = request;
  const cap = MAX_DISCOUNT_PERCENT[term];
  if (percent > cap) {
    const longer = TERMS.filter((t) => MAX_DISCOUNT_PERCENT[t] >= percent);
    return {
      decision: "refused",
      requiredRole: null,
      detail:
        `${percent}% exceeds the ${cap}% maximum for ${term} terms; no one may approve it.` +
        (longer.length
          ? ` A ${longer.join(" or ")} term allows it.`
          : ` No term allows more than ${Math.max(...Object.values(MAX_DISCOUNT_PERCENT))}%.`),
    };
  }
  const authority = APPROVAL_MATRIX.find((a) => a.role === role)!.upToPercent;
  if (percent > authority) {
    const needed = APPROVAL_MATRIX.find((a) => a.upToPercent >= percent)!.role;
    return {
      decision: "refused",
      requiredRole: needed,
      detail: `${role} may approve up to ${authority}%; ${percent}% on ${term} terms needs approval by ${needed}.`,
    };
  }
  return {
    decision: "approved",
    detail: `${percent}% on ${term} terms approved by ${role} (limit ${authority}%).`,
  };
}

export interface DiscountRecord {
  id: string;
  tenant: string;
  dealRef: string;
  term: Term;
  percent: number;
  decidedBy: string;
  decidedByRole: string;
  decision: "approved" | "refused";
  requiredRole: string | null;
  reason: string;
  createdAt: Date;
}

/** Decides and audits in one statement: a refusal is recorded as faithfully as an approval. */
export async function decideAndRecord(
  pool: pg.Pool,
  request: {
    tenantSlug: string;
    dealRef: string;
    term: Term;
    percent: number;
    decidedBy: string;
    role: ApproverRole;
    reason: string;
  },
): Promise<DiscountDecision & { id: string }> {
  const outcome = decideDiscount(request);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO discount_approvals (tenant_id, deal_ref, term, percent, decided_by, decided_by_role, decision,
                                     required_role, reason)
     SELECT id, $2, $3, $4, $5, $6, $7, $8, $9 FROM tenants WHERE slug = $1
     RETURNING id`,
    [
      request.tenantSlug,
      request.dealRef,
      request.term,
      request.percent,
      request.decidedBy,
      request.role,
      outcome.decision,
      outcome.decision === "refused" ? outcome.requiredRole : null,
      request.reason,
    ],
  );
  if (!rows[0])
    throw new Error(
      `There is no tenant '${request.tenantSlug}'. Use the tenant's slug (kubectl get tenants).`,
    );
  return { ...outcome, id: rows[0].id };
}

export async function discountHistory(pool: pg.Pool, tenantSlug: string): Promise<DiscountRecord[]> {
  const { rows } = await pool.query(
    `SELECT d.id, t.slug AS tenant, d.deal_ref, d.term, d.percent::float8 AS percent, d.decided_by, d.decided_by_role,
            d.decision, d.required_role, d.reason, d.created_at
       FROM discount_approvals d JOIN tenants t ON t.id = d.tenant_id
      WHERE t.slug = $1 ORDER BY d.created_at, d.id`,
    [tenantSlug],
  );
  return rows.map((r) => ({
    id: r.id,
    tenant: r.tenant,
    dealRef: r.deal_ref,
    term: r.term,
    percent: r.percent,
    decidedBy: r.decided_by,
    decidedByRole: r.decided_by_role,
    decision: r.decision,
    requiredRole: r.required_role,
    reason: r.reason,
    createdAt: r.created_at,
  }));
}
