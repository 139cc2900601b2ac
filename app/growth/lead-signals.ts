// Lead signals for sales (the SDR playbook): a trial or paying tenant that sends >= 3 quotes or
// >= 2 bulk jobs within 72 hours is showing intent. detectLeadSignals finds every such tenant in one
// set-based statement and records one signal per tenant per 72-hour window (table lead_signals,
// migration 0016) with the evidence; deliverLeadSignals sends the pending ones to the CRM webhook.
//
// Delivery is an outbox: a signal is claimed by pushing its next attempt past the request's timeout
// (so a concurrent run skips it), sent with its idempotency key and an HMAC signature, and marked
// delivered only on a 2xx. A failure backs off exponentially (1, 2, 4 ... 60 minutes) and stays
// pending, so a CRM down for an hour loses nothing; the CRM deduplicates on Idempotency-Key the rare
// resend after a crash between its 2xx and our mark.
import { createHmac } from "node:crypto";
import type pg from "pg";

export const LEAD_WINDOW_HOURS = 72;
export const LEAD_MIN_QUOTES = 3;
export const LEAD_MIN_BULK_JOBS = 2;
/** Billing states of a tenant sales wants to hear about: on a trial, or paying. */
export const LEAD_BILLING_STATES = ["trialing", "active"] as const;

export interface DetectedSignal {
  tenantId: string;
  reason: "quotes" | "bulk_jobs" | "quotes_and_bulk_jobs";
  quotes: number;
  bulkJobs: number;
}

/**
 * Records a signal for every tenant crossing a threshold in the 72 hours before `at` that has had no
 * signal in that window yet; returns the new ones. Re-running is harmless (the window check and the
 * idempotency key's uniqueness).
 */
export async function detectLeadSignals(operator: pg.Pool, at = new Date()): Promise<DetectedSignal[]> {
  const { rows } = await operator.query<{
    tenant_id: string;
    reason: DetectedSignal["reason"];
    quotes: number;
    bulk_jobs: number;
  }>(
    `WITH bounds AS (
       SELECT $1::timestamptz AS window_end, $1::timestamptz - make_interval(hours => $2) AS window_start),
     q AS (
       SELECT tenant_id, count(*)::int AS n, min(created_at) AS first_at, max(created_at) AS last_at
         FROM quotes, bounds
        WHERE created_at > bounds.window_start AND created_at <= bounds.window_end
        GROUP BY tenant_id),
     b AS (
       SELECT tenant_id, count(*)::int AS n, min(created_at) AS first_at, max(created_at) AS last_at
         FROM jobs, bounds
        WHERE kind = 'bulk_rating' AND created_at > bounds.window_start AND created_at <= bounds.window_end
        GROUP BY tenant_id),
     crossing AS (
       SELECT coalesce(q.tenant_id, b.tenant_id) AS tenant_id,
              coalesce(q.n, 0) AS quotes, coalesce(b.n, 0) AS bulk_jobs,
              least(q.first_at, b.first_at) AS first_at, greatest(q.last_at, b.last_at) AS last_at
         FROM q FULL JOIN b ON b.tenant_id = q.tenant_id
        WHERE coalesce(q.n, 0) >= $3 OR coalesce(b.n, 0) >= $4)
     INSERT INTO lead_signals (tenant_id, window_start, window_end, reason, quotes, bulk_jobs,
                               first_event_at, last_event_at, plan_id, billing_status, idempotency_key,
                               detected_at, next_attempt_at)
     SELECT c.tenant_id, bounds.window_start, bounds.window_end,
            CASE WHEN c.quotes >= $3 AND c.bulk_jobs >= $4 THEN 'quotes_and_bulk_jobs'
                 WHEN c.quotes >= $3 THEN 'quotes' ELSE 'bulk_jobs' END,
            c.quotes, c.bulk_jobs, c.first_at, c.last_at, t.plan_id, t.billing_status,
            'lead-signal:' || c.tenant_id || ':' || to_char(bounds.window_start AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS'),
            bounds.window_end, bounds.window_end
       FROM crossing c CROSS JOIN bounds
       JOIN tenants t ON t.id = c.tenant_id
      WHERE t.disabled_at IS NULL AND t.billing_status = ANY($5)
        AND NOT EXISTS (SELECT 1 FROM lead_signals s
                         WHERE s.tenant_id = c.tenant_id AND s.window_end > bounds.window_start)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING tenant_id, reason, quotes, bulk_jobs`,
    [at, LEAD_WINDOW_HOURS, LEAD_MIN_QUOTES, LEAD_MIN_BULK_JOBS, LEAD_BILLING_STATES],
  );
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    reason: r.reason,
    quotes: r.quotes,
    bulkJobs: r.bulk_jobs,
  }));
}

export interface CrmWebhook {
  url: string;
  /** Signs each body: X-Freight-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">. */
  secret: string;
}

/** The signature header of `body` sent at `at`; the CRM side recomputes it to trust the sender. */
export function signBody(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** Minutes before the next attempt after `attempts` failed ones: 1, 2, 4 ... capped at an hour. */
export function backoffMinutes(attempts: number): number {
  return Math.min(2 ** Math.max(attempts - 1, 0), 60);
}

interface ClaimedSignal {
  id: string;
  tenant_id: string;
  slug: string;
  window_start: Date;
  window_end: Date;
  reason: string;
  quotes: number;
  bulk_jobs: number;
  first_event_at: Date;
  last_event_at: Date;
  plan_id: string;
  billing_status: string;
  idempotency_key: string;
  detected_at: Date;
  attempts: number;
}

/** What the CRM receives for one signal. */
export function leadSignalPayload(s: ClaimedSignal): Record<string, unknown> {
  return {
    event: "lead_signal",
    id: s.id,
    tenant: { id: s.tenant_id, slug: s.slug, plan: s.plan_id, billingStatus: s.billing_status },
    reason: s.reason,
    evidence: {
      quotes: s.quotes,
      bulkJobs: s.bulk_jobs,
      firstEventAt: s.first_event_at.toISOString(),
      lastEventAt: s.last_event_at.toISOString(),
      windowStart: s.window_start.toISOString(),
      windowEnd: s.window_end.toISOString(),
    },
    detectedAt: s.detected_at.toISOString(),
  };
}

export interface DeliveryReport {
  delivered: number;
  failed: number;
  /** Still pending after this run (backing off, or not yet due). */
  pending: number;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** A claim outlives the request's timeout, so a run that dies mid-request is retried, not doubled. */
const CLAIM_MINUTES = 5;

/** Sends every due pending signal (in batches of `batch`), each once per claim. */
export async function deliverLeadSignals(
  operator: pg.Pool,
  crm: CrmWebhook,
  options: { batch?: number; now?: () => Date } = {},
): Promise<DeliveryReport> {
  const now = options.now ?? (() => new Date());
  const batch = options.batch ?? 100;
  const report: DeliveryReport = { delivered: 0, failed: 0, pending: 0 };
  for (;;) {
    const claimedAt = now();
    const { rows } = await operator.query<ClaimedSignal>(
      `WITH due AS (
         SELECT id FROM lead_signals
          WHERE delivery_state = 'pending' AND next_attempt_at <= $1
          ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE lead_signals s
          SET attempts = s.attempts + 1, next_attempt_at = $1::timestamptz + make_interval(mins => $3)
         FROM due, tenants t
        WHERE s.id = due.id AND t.id = s.tenant_id
       RETURNING s.*, t.slug`,
      [claimedAt, batch, CLAIM_MINUTES],
    );
    if (!rows.length) break;
    await Promise.all(
      rows.map(async (signal) => {
        const body = JSON.stringify(leadSignalPayload(signal));
        let error: string | undefined;
        try {
          const response = await fetch(crm.url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "idempotency-key": signal.idempotency_key,
              "x-freight-signature": signBody(crm.secret, body, now()),
            },
            body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          await response.arrayBuffer().catch(() => undefined);
          if (!response.ok) error = `CRM answered ${response.status}`;
        } catch (failure) {
          error = `CRM unreachable: ${(failure as Error).message}`;
        }
        if (error === undefined) {
          await operator.query(
            `UPDATE lead_signals SET delivery_state = 'delivered', delivered_at = $2, last_error = NULL
              WHERE id = $1`,
            [signal.id, now()],
          );
          report.delivered += 1;
        } else {
          await operator.query(
            `UPDATE lead_signals SET last_error = $2,
                    next_attempt_at = $3::timestamptz + make_interval(mins => $4)
              WHERE id = $1`,
            [signal.id, error, now(), backoffMinutes(signal.attempts)],
          );
          report.failed += 1;
        }
      }),
    );
    // A batch smaller than asked for was the last due one; failures wait for their backoff.
    if (rows.length < batch) break;
  }
  const { rows } = await operator.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM lead_signals WHERE delivery_state = 'pending'",
  );
  report.pending = rows[0]!.n;
  return report;
}
