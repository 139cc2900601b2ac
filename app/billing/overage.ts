// Overage to Stripe billing meters through an outbox. Collecting turns usage beyond the included
// quantity into unit ranges (from, to] per tenant, meter and period, each with a stable identifier
// `tenant:meter:period:from-to`; sending posts each range once as a meter event carrying that
// identifier and the usage's timestamp. A range can be created only once (unique per start unit) and
// Stripe drops a repeated identifier, so a crash between Stripe's answer and our commit, a retry, or
// two app replicas at once never bill a unit twice.
import type { Logger } from "pino";
import type pg from "pg";
import Stripe from "stripe";
import { transaction } from "../db/pool.ts";
import type { BillingCatalog } from "./catalog.ts";
import { queueTask } from "./webhook.ts";

export interface OverageRange {
  tenantId: string;
  meter: string;
  periodStart: Date;
  fromUnits: number;
  toUnits: number;
  identifier: string;
}

/** Queues the overage not yet reported, for every tenant with a Stripe customer. Returns what it queued. */
export async function collectOverage(pool: pg.Pool, catalog: BillingCatalog): Promise<OverageRange[]> {
  const meters = [...catalog.overageEventByMeter.entries()];
  const { rows } = await pool.query<{
    tenant_id: string;
    meter: string;
    period_start: Date;
    from_units: number;
    to_units: number;
    identifier: string;
  }>(
    `INSERT INTO overage_outbox (tenant_id, meter, period_start, from_units, to_units, identifier, event_name,
                                 stripe_customer_id, usage_at)
     SELECT u.tenant_id, u.meter, u.period_start, r.reported, u.used - e.included,
            format('%s:%s:%s:%s-%s', u.tenant_id, u.meter, to_char(u.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                   r.reported, u.used - e.included),
            m.event_name, a.stripe_customer_id, least(u.updated_at, now())
       FROM usage_counters u
       JOIN entitlements e ON e.tenant_id = u.tenant_id AND e.meter = u.meter AND e.overage_allowed
       JOIN billing_accounts a ON a.tenant_id = u.tenant_id
       JOIN unnest($1::text[], $2::text[]) AS m(meter, event_name) ON m.meter = u.meter
      CROSS JOIN LATERAL (
            SELECT coalesce(max(o.to_units), 0) AS reported FROM overage_outbox o
             WHERE o.tenant_id = u.tenant_id AND o.meter = u.meter AND o.period_start = u.period_start) r
      -- Stripe accepts meter events up to 35 days old; older periods were reported while they were open.
      WHERE u.period_start >= now() - interval '34 days' AND u.used - e.included > r.reported
     ON CONFLICT DO NOTHING
     RETURNING tenant_id, meter, period_start, from_units, to_units, identifier`,
    [meters.map(([meter]) => meter), meters.map(([, event]) => event)],
  );
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    meter: r.meter,
    periodStart: r.period_start,
    fromUnits: r.from_units,
    toUnits: r.to_units,
    identifier: r.identifier,
  }));
}

export interface SendResult {
  sent: number;
  retrying: number;
  failed: number;
}

const MAX_BACKOFF_SECONDS = 3600;

/** Posts due outbox rows to Stripe. Rows being sent are locked, so replicas never send the same row. */
export async function sendOverage(
  deps: { pool: pg.Pool; stripe: Stripe; log: Logger },
  batch = 100,
): Promise<SendResult> {
  const result: SendResult = { sent: 0, retrying: 0, failed: 0 };
  await transaction(deps.pool, async (db) => {
    const { rows } = await db.query<{
      id: string;
      tenant_id: string;
      identifier: string;
      event_name: string;
      stripe_customer_id: string;
      quantity: number;
      usage_at: Date;
      attempts: number;
    }>(
      `SELECT id, tenant_id, identifier, event_name, stripe_customer_id, quantity, usage_at, attempts
         FROM overage_outbox WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [batch],
    );
    for (const row of rows) {
      try {
        await deps.stripe.billing.meterEvents.create(
          {
            event_name: row.event_name,
            identifier: row.identifier,
            timestamp: Math.floor(row.usage_at.getTime() / 1000),
            payload: { stripe_customer_id: row.stripe_customer_id, value: String(row.quantity) },
          },
          { idempotencyKey: `meter-event:${row.identifier}` },
        );
        await db.query(
          "UPDATE overage_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1",
          [row.id],
        );
        result.sent++;
      } catch (error) {
        const message = (error as Error).message;
        // Stripe refused the event itself (unknown meter or customer, too old): retrying cannot help.
        const permanent =
          error instanceof Stripe.errors.StripeInvalidRequestError &&
          (error.statusCode === 400 || error.statusCode === 404);
        if (permanent) {
          await db.query(
            "UPDATE overage_outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
            [row.id, message],
          );
          await queueTask(db, row.tenant_id, "billing_alert", `billing-overage-refused:${row.identifier}`, {
            alert: "overage_refused",
            identifier: row.identifier,
            quantity: row.quantity,
            error: message,
            action:
              "Fix the meter or customer in Stripe, then set the outbox row back to pending (status = 'pending').",
          });
          deps.log.error(
            { identifier: row.identifier, err: message },
            "Stripe refused an overage meter event",
          );
          result.failed++;
        } else {
          const backoff = Math.min(MAX_BACKOFF_SECONDS, 30 * 2 ** row.attempts);
          await db.query(
            `UPDATE overage_outbox SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1`,
            [row.id, message, backoff],
          );
          deps.log.warn(
            { identifier: row.identifier, err: message, retryInSeconds: backoff },
            "overage meter event not sent; will retry",
          );
          result.retrying++;
        }
      }
    }
  });
  return result;
}
