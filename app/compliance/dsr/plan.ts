// The erasure plan, table by table: which columns hold personal data, how an end user's rows are
// found, and what erasure does to them (delete the row, or mask the personal columns and keep the
// rest). Everything not listed holds no personal data (quotes, bookings: lanes, weights, amounts)
// or must be kept as it is (the audit log). Fulfilment (erase.ts) and the completeness scan (scan.ts)
// both read this table, the migration grants the runner exactly its writes (plan.test.ts checks the
// grants against it), and docs/data-subject-requests.md prints it. Adding a personal column to the
// schema means adding it here.

/** A row is the subject's when one of these columns holds one of the subject's identifiers. */
export interface SubjectMatch {
  /** Column holding an email address (compared lower-case). */
  email?: string;
  /** Column holding the sign-in id (SSO subject). */
  id?: string;
}

export type ErasureAction =
  | { kind: "delete" }
  /** Column -> SQL expression of its masked value (may use the row's own tenant_id). */
  | { kind: "mask"; set: Record<string, string> }
  | { kind: "keep" };

export interface TablePlan {
  table: string;
  /** Columns holding personal data. Empty for a table kept because of what it must keep. */
  personal: string[];
  /** What stays, and why: said once here, printed in the docs. */
  keeps: string;
  /** An end user's rows and what erasure does to them; absent when rows are not tied to a person. */
  subject?: { match: SubjectMatch; action: ErasureAction };
  /** What erasing the whole tenant does to its rows. */
  tenant: ErasureAction;
  /** The stored objects of the rows (documents) go too, except those this SQL condition keeps. */
  objects?: { keepWhere: string };
}

const MASKED_EMAIL = "'erased-' || md5(tenant_id::text) || '@erased.invalid'";
export const ERASED_TEXT = "[erased]";
const ERASED = `'${ERASED_TEXT}'`;

export const ERASURE_PLAN: readonly TablePlan[] = [
  {
    table: "carrier_invites",
    personal: ["email"],
    keeps: "nothing: an invite is the address it was sent to",
    subject: { match: { email: "email" }, action: { kind: "delete" } },
    tenant: { kind: "delete" },
  },
  {
    table: "sso_sessions",
    personal: ["subject", "email"],
    keeps: "nothing: a session is the person signed in",
    subject: { match: { email: "email", id: "subject" }, action: { kind: "delete" } },
    tenant: { kind: "delete" },
  },
  {
    table: "signups",
    personal: ["email"],
    keeps: "the row (the tenant's signup date and plan), with the address masked",
    subject: { match: { email: "email" }, action: { kind: "mask", set: { email: MASKED_EMAIL } } },
    tenant: { kind: "mask", set: { email: MASKED_EMAIL } },
  },
  {
    table: "billing_accounts",
    personal: ["billing_email"],
    keeps: "the Stripe customer and subscription state (amounts are Stripe's), without the billing contact",
    subject: { match: { email: "billing_email" }, action: { kind: "mask", set: { billing_email: "NULL" } } },
    tenant: { kind: "mask", set: { billing_email: "NULL" } },
  },
  {
    table: "limit_increase_requests",
    personal: ["reason"],
    keeps:
      "the meter, the limits asked for and granted, the decision; the tenant's free-text reason is masked",
    tenant: { kind: "mask", set: { reason: ERASED } },
  },
  {
    table: "documents",
    personal: ["file_name"],
    keeps:
      "invoices (tax records): the stored file is kept for its legal retention, its name masked; every other document's file is deleted",
    tenant: {
      kind: "mask",
      set: {
        file_name: ERASED,
        state: "CASE WHEN kind = 'invoice' THEN state ELSE 'deleted' END",
        deleted_at: "CASE WHEN kind = 'invoice' THEN deleted_at ELSE coalesce(deleted_at, now()) END",
      },
    },
    objects: { keepWhere: "kind = 'invoice'" },
  },
  {
    table: "tenants",
    personal: ["name"],
    keeps: "the slug (the platform's key for the tenant) and its plan; the company name is masked",
    tenant: { kind: "mask", set: { name: ERASED } },
  },
  {
    table: "invoices",
    personal: [],
    keeps: "everything: amounts and dates are tax records and hold no personal field",
    tenant: { kind: "keep" },
  },
  {
    table: "discount_approvals",
    personal: [],
    keeps: "everything: the deal desk's append-only audit log is never rewritten (its names are staff's)",
    tenant: { kind: "keep" },
  },
];

/** The column a table is keyed to its tenant by. */
export function tenantColumn(plan: TablePlan): string {
  return plan.table === "tenants" ? "id" : "tenant_id";
}

/** Columns a masking action writes, by table: what the runner is granted UPDATE on. */
export function maskedColumns(): Record<string, string[]> {
  const columns: Record<string, Set<string>> = {};
  for (const plan of ERASURE_PLAN) {
    for (const action of [plan.subject?.action, plan.tenant]) {
      if (action?.kind !== "mask") continue;
      for (const column of Object.keys(action.set)) (columns[plan.table] ??= new Set()).add(column);
    }
  }
  return Object.fromEntries(Object.entries(columns).map(([t, c]) => [t, [...c].sort()]));
}

/** Tables whose rows erasure deletes: what the runner is granted DELETE on. */
export function deletedTables(): string[] {
  return ERASURE_PLAN.filter((p) => p.subject?.action.kind === "delete" || p.tenant.kind === "delete").map(
    (p) => p.table,
  );
}
