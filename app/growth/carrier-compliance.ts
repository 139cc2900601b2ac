// Directory compliance: each carrier's compliance documents (insurance certificate, operating
// authority, W-9), the freshness score every tenant sees in search and on the scorecard, the
// invite -> onboard step, and the scheduled reminders. One module owns the freshness SQL, so search,
// scorecard and job can never disagree.
//
// Freshness score (0-100), as of a day:
//   per required kind, the current document (latest issued) scores
//     0                      missing, or expired (past its expires_on)
//     days_left / 30         expiring within 30 days (days_left = expires_on - today, 0..29)
//     1                      valid for 30 days or more
//   score = round(100 * mean of the three kinds' scores)
// Status: non_compliant when a kind is missing or expired, expiring when one expires within 30
// days, else compliant. An invite is onboarded when the carrier accepted it and is not non_compliant.
//
// Reminders: a carrier hears 30, 7 and 1 days before a current document expires, once each; a run
// that missed days sends only the most urgent threshold due. A tenant that onboarded a carrier hears
// once per lapse (the carrier, the kinds, the earliest expiry) when one of its documents expires.
import type pg from "pg";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { notFound, Problem } from "../http/problem.ts";

export const DOCUMENT_KINDS = ["insurance_certificate", "operating_authority", "w9"] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];
export const DOCUMENT_NAMES: Record<DocumentKind, string> = {
  insurance_certificate: "insurance certificate",
  operating_authority: "operating authority",
  w9: "W-9",
};
/** A document closer than this to its expiry lowers the score and is "expiring". */
export const FRESH_DAYS = 30;
export const REMINDER_DAYS = [30, 7, 1] as const;

export const FRESHNESS_FORMULA =
  "round(100 * mean over insurance certificate, operating authority and W-9 of: 0 if missing or expired, days to expiry / 30 if under 30, else 1)";

/**
 * Per carrier: its freshness score, status and the kinds missing or expired, as of `$day` (a SQL
 * date expression), for the carriers `carrierFilter` selects (a SQL condition on `c`).
 */
export function freshnessSql(day: string, carrierFilter = "true"): string {
  return `SELECT c.id AS carrier_id,
         round(100 * sum(CASE WHEN d.expires_on IS NULL OR d.expires_on < ${day} THEN 0
                              WHEN d.expires_on - ${day} < ${FRESH_DAYS} THEN (d.expires_on - ${day})::numeric / ${FRESH_DAYS}
                              ELSE 1 END) / ${DOCUMENT_KINDS.length})::int AS freshness,
         CASE WHEN bool_or(d.expires_on IS NULL OR d.expires_on < ${day}) THEN 'non_compliant'
              WHEN bool_or(d.expires_on - ${day} < ${FRESH_DAYS}) THEN 'expiring'
              ELSE 'compliant' END AS compliance,
         coalesce(array_agg(k.kind ORDER BY k.kind) FILTER (WHERE d.expires_on IS NULL OR d.expires_on < ${day}), '{}') AS lapsed_kinds,
         min(d.expires_on) FILTER (WHERE d.expires_on < ${day}) AS lapsed_on
    FROM carriers c
   CROSS JOIN unnest(ARRAY['${DOCUMENT_KINDS.join("', '")}']) AS k(kind)
    LEFT JOIN LATERAL (
          SELECT expires_on FROM carrier_compliance_documents x
           WHERE x.carrier_id = c.id AND x.kind = k.kind
           ORDER BY x.issued_on DESC, x.recorded_at DESC LIMIT 1) d ON true
   WHERE ${carrierFilter}
   GROUP BY c.id`;
}

export type ComplianceStatus = "compliant" | "expiring" | "non_compliant";
export interface Freshness {
  carrier_id: string;
  freshness: number;
  compliance: ComplianceStatus;
  lapsed_kinds: DocumentKind[];
}

/** The freshness of `carrierIds` today, by carrier id. */
export async function freshnessOf(db: Db | pg.Pool, carrierIds: string[]): Promise<Map<string, Freshness>> {
  if (!carrierIds.length) return new Map();
  const { rows } = await db.query<Freshness>(freshnessSql("current_date", "c.id = ANY($1::uuid[])"), [
    carrierIds,
  ]);
  return new Map(rows.map((r) => [r.carrier_id, r]));
}

const day = z.iso.date("must be a date, YYYY-MM-DD");
export const complianceDocumentBody = z
  .strictObject({
    kind: z.enum(DOCUMENT_KINDS, `must be one of ${DOCUMENT_KINDS.join(", ")}`),
    issuedOn: day,
    expiresOn: day,
    contactEmail: z.email("must be the carrier's compliance contact, who gets the expiry reminders").max(254),
  })
  .refine((d) => d.expiresOn > d.issuedOn, {
    path: ["expiresOn"],
    message:
      "must be after issuedOn: a document expires after it was issued; check the two dates are not swapped",
  });
export type ComplianceDocumentBody = z.infer<typeof complianceDocumentBody>;

export const complianceDocumentView = z.strictObject({
  id: z.guid(),
  kind: z.enum(DOCUMENT_KINDS),
  issuedOn: z.iso.date(),
  expiresOn: z.iso.date(),
  daysLeft: z.int(),
  state: z.enum(["valid", "expiring", "expired"]),
});
export const complianceSummary = z.strictObject({
  freshness: z.int().min(0).max(100),
  status: z.enum(["compliant", "expiring", "non_compliant"]),
});

interface DocumentRow {
  id: string;
  kind: DocumentKind;
  issued_on: string;
  expires_on: string;
  days_left: number;
}

function documentView(row: DocumentRow): z.infer<typeof complianceDocumentView> {
  return {
    id: row.id,
    kind: row.kind,
    issuedOn: row.issued_on,
    expiresOn: row.expires_on,
    daysLeft: row.days_left,
    state: row.days_left < 0 ? "expired" : row.days_left < FRESH_DAYS ? "expiring" : "valid",
  };
}

/** The current document of each kind the carrier has (latest issued), as of today. */
export async function currentDocuments(db: Db, carrierId: string) {
  const { rows } = await db.query<DocumentRow>(
    `SELECT DISTINCT ON (kind) id, kind, issued_on::text, expires_on::text, (expires_on - current_date) AS days_left
       FROM carrier_compliance_documents WHERE carrier_id = $1
      ORDER BY kind, issued_on DESC, recorded_at DESC`,
    [carrierId],
  );
  return rows.map(documentView);
}

/**
 * Records a document for a carrier the calling tenant invited, in its transaction, then marks the
 * tenant's accepted invite onboarded if the carrier is now complete. A carrier the tenant never
 * invited is refused: the directory's documents come from the carrier's onboarding.
 */
export async function recordComplianceDocument(db: Db, carrierId: string, body: ComplianceDocumentBody) {
  const carrier = await db.query("SELECT 1 FROM carriers WHERE id = $1", [carrierId]);
  if (!carrier.rowCount) throw notFound(`Carrier ${carrierId}`);
  const invite = await db.query("SELECT 1 FROM carrier_invites WHERE carrier_id = $1", [carrierId]);
  if (!invite.rowCount)
    throw new Problem({
      type: "carrier-not-invited",
      title: "Carrier not invited",
      status: 409,
      detail: `Your tenant has not invited carrier ${carrierId}; invite it first (POST /v1/directory/invites), then record the documents it sends you.`,
    });
  const { rows } = await db.query<DocumentRow>(
    `INSERT INTO carrier_compliance_documents (carrier_id, kind, issued_on, expires_on, contact_email)
     VALUES ($1, $2, $3, $4, $5)
     RETURNING id, kind, issued_on::text, expires_on::text, (expires_on - current_date) AS days_left`,
    [carrierId, body.kind, body.issuedOn, body.expiresOn, body.contactEmail],
  );
  await markOnboarded(db, carrierId);
  return documentView(rows[0]!);
}

/** Marks the caller's accepted invite to `carrierId` onboarded once the carrier is not non-compliant. */
export async function markOnboarded(db: Db, carrierId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE carrier_invites i SET onboarded_at = now()
       FROM (${freshnessSql("current_date", "c.id = $1")}) f
      WHERE i.carrier_id = $1 AND i.status = 'accepted' AND i.onboarded_at IS NULL
        AND f.carrier_id = i.carrier_id AND f.compliance <> 'non_compliant'`,
    [carrierId],
  );
  return (rowCount ?? 0) > 0;
}

export interface ComplianceRun {
  carrierReminders: { carrier: string; kind: DocumentKind; daysBefore: number }[];
  tenantNotices: { tenantId: string; carrier: string }[];
  onboarded: number;
}

/**
 * The scheduled job, as of `at`, in three set-based statements over every carrier: the reminders
 * due to carriers, the lapse notices due to tenants, and the invites onboarded by documents recorded
 * since they were accepted. Each is recorded once (reminder rows, agent task dedupe keys).
 */
export async function runComplianceReminders(operator: pg.Pool, at = new Date()): Promise<ComplianceRun> {
  const today = "$1::timestamptz::date";
  const reminders = await operator.query<{ carrier: string; kind: DocumentKind; days_before: number }>(
    `WITH current_docs AS (
       SELECT DISTINCT ON (carrier_id, kind) id, carrier_id, kind, expires_on, contact_email
         FROM carrier_compliance_documents
        WHERE expires_on >= ${today} AND expires_on - ${today} <= $2
        ORDER BY carrier_id, kind, issued_on DESC, recorded_at DESC),
     due AS (
       SELECT d.*, (SELECT min(t) FROM unnest($3::int[]) AS t WHERE t >= d.expires_on - ${today}) AS days_before
         FROM current_docs d),
     recorded AS (
       INSERT INTO carrier_compliance_reminders (document_id, days_before, sent_at)
       SELECT id, days_before, $1 FROM due
        WHERE NOT EXISTS (SELECT 1 FROM carrier_compliance_reminders r
                           WHERE r.document_id = due.id AND r.days_before <= due.days_before)
       ON CONFLICT DO NOTHING
       RETURNING document_id, days_before),
     queued AS (
       INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
       SELECT inviter.tenant_id, 'carrier_compliance_reminder',
              jsonb_build_object('to', d.contact_email, 'carrierId', c.id, 'carrierName', c.name,
                                 'mcNumber', c.mc_number, 'document', d.kind, 'expiresOn', d.expires_on,
                                 'daysBefore', r.days_before),
              'carrier-compliance-reminder:' || r.document_id || ':' || r.days_before
         FROM recorded r JOIN due d ON d.id = r.document_id JOIN carriers c ON c.id = d.carrier_id
         -- The task runs in the name of the tenant that invited the carrier first (recording a
         -- document needs an invite); the carrier's contact is mailed either way.
         JOIN LATERAL (SELECT i.tenant_id FROM carrier_invites i WHERE i.carrier_id = d.carrier_id
                        ORDER BY i.accepted_at NULLS LAST, i.tenant_id LIMIT 1) inviter ON true
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING payload)
     SELECT payload->>'carrierName' AS carrier, payload->>'document' AS kind, (payload->>'daysBefore')::int AS days_before
       FROM queued ORDER BY 1, 2`,
    [at, Math.max(...REMINDER_DAYS), REMINDER_DAYS],
  );
  const notices = await operator.query<{ tenant_id: string; carrier: string }>(
    `WITH lapsed AS (${freshnessSql(today, "c.id IN (SELECT carrier_id FROM carrier_invites WHERE status = 'accepted')")})
     INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
     SELECT i.tenant_id, 'tenant_notice',
            jsonb_build_object('notice', 'carrier_non_compliant', 'carrierId', c.id, 'carrierName', c.name,
                               'mcNumber', c.mc_number, 'lapsedOn', l.lapsed_on,
                               'problems', l.lapsed_kinds),
            'carrier-non-compliant:' || i.tenant_id || ':' || c.id || ':' || l.lapsed_on
       FROM lapsed l
       JOIN carriers c ON c.id = l.carrier_id
       JOIN carrier_invites i ON i.carrier_id = l.carrier_id AND i.status = 'accepted'
      WHERE l.lapsed_on IS NOT NULL
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING tenant_id, payload->>'carrierName' AS carrier`,
    [at],
  );
  const onboarded = await operator.query(
    `UPDATE carrier_invites i SET onboarded_at = $1
       FROM (${freshnessSql(today, "c.id IN (SELECT carrier_id FROM carrier_invites WHERE status = 'accepted' AND onboarded_at IS NULL)")}) f
      WHERE i.carrier_id = f.carrier_id AND i.status = 'accepted' AND i.onboarded_at IS NULL
        AND f.compliance <> 'non_compliant'`,
    [at],
  );
  return {
    carrierReminders: reminders.rows.map((r) => ({
      carrier: r.carrier,
      kind: r.kind,
      daysBefore: r.days_before,
    })),
    tenantNotices: notices.rows.map((r) => ({ tenantId: r.tenant_id, carrier: r.carrier })),
    onboarded: onboarded.rowCount ?? 0,
  };
}
