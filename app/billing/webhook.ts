// Applies one verified Stripe event. The event id is recorded in the same transaction as its effects,
// so a replay (Stripe retries, a resend from the dashboard, a duplicate delivered concurrently) finds
// the id and does nothing. Order does not matter: every subscription-affecting event makes us fetch
// the subscription's current state from Stripe under a lock on the tenant's billing row, so the last
// writer always writes the newest state, whatever order the events arrived in.
import type { Logger } from "pino";
import type pg from "pg";
import Stripe from "stripe";
import type { BillingStatus } from "../../operators/api/tenant.ts";
import { transaction, type Db } from "../db/pool.ts";
import type { BillingCatalog } from "./catalog.ts";
import { subscriptionSnapshot } from "./stripe.ts";
import { decideSubscription } from "./subscription.ts";
import { recordTrialConversion } from "./trial.ts";
import { TenantResourceMissing, type TenantPlanWriter } from "./tenant-resource.ts";

export const HANDLED_EVENTS = [
  "checkout.session.completed",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "customer.subscription.trial_will_end",
  "invoice.paid",
  "invoice.payment_failed",
  "entitlements.active_entitlement_summary.updated",
] as const;
export type HandledEvent = (typeof HANDLED_EVENTS)[number];

export const isHandledEvent = (type: string): type is HandledEvent =>
  (HANDLED_EVENTS as readonly string[]).includes(type);

export type EventOutcome =
  | "applied"
  | "replayed"
  | "no-change"
  | "unknown-customer"
  | "unknown-price"
  | "tenant-missing"
  | "customer-mismatch"
  | "superseded"
  | "recorded"
  | "malformed";

export interface BillingDeps {
  /** freight_billing: all tenants' billing rows. */
  pool: pg.Pool;
  stripe: Stripe;
  writer: TenantPlanWriter;
  catalog: BillingCatalog;
  graceDays: number;
  log: Logger;
  now?: () => Date;
}

export interface AccountRow {
  tenant_id: string;
  slug: string;
  stripe_customer_id: string;
  stripe_subscription_id: string | null;
  plan_id: string | null;
  billing_status: BillingStatus | null;
  past_due_since: Date | null;
}

export interface EventResult {
  outcome: EventOutcome;
  tenantId?: string;
  detail: string;
}

const StripeErrors = Stripe.errors;
/** What billing last decided for a tenant that was already paying: no conversion to record. */
const PAYING = new Set<string>(["active", "past_due"]);

const customerOf = (object: { customer?: string | { id: string } | null }): string | undefined =>
  typeof object.customer === "string" ? object.customer : (object.customer?.id ?? undefined);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function processStripeEvent(deps: BillingDeps, event: Stripe.Event): Promise<EventResult> {
  return transaction(deps.pool, async (db) => {
    const inserted = await db.query(
      `INSERT INTO stripe_events (id, type, created, outcome) VALUES ($1, $2, to_timestamp($3), 'processing')
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [event.id, event.type, event.created],
    );
    if (!inserted.rowCount) return { outcome: "replayed", detail: `event ${event.id} was already processed` };
    const result = await applyEvent(deps, db, event);
    await db.query("UPDATE stripe_events SET outcome = $2, tenant_id = $3 WHERE id = $1", [
      event.id,
      result.outcome,
      result.tenantId ?? null,
    ]);
    return result;
  });
}

async function applyEvent(deps: BillingDeps, db: Db, event: Stripe.Event): Promise<EventResult> {
  const object = event.data.object as unknown as Record<string, unknown> & {
    customer?: string | { id: string } | null;
  };
  // Signed by Stripe but missing what we read: acknowledged, recorded, no effect (retrying cannot fix it).
  const summary = event.type === "entitlements.active_entitlement_summary.updated";
  if (
    (!summary && typeof object.id !== "string") ||
    (summary && !Array.isArray((object.entitlements as { data?: unknown } | undefined)?.data)) ||
    (event.type === "invoice.payment_failed" && !Number.isInteger(object.attempt_count))
  )
    return {
      outcome: "malformed",
      detail: `${event.type} without the object's id or fields; nothing changed`,
    };
  const account = await lockAccount(db, event, object);
  if (!account) {
    return {
      outcome: "unknown-customer",
      detail: `no tenant has Stripe customer ${customerOf(object) ?? "(none)"}; nothing changed`,
    };
  }
  const tenantId = account.tenant_id;
  await recordBillingContact(db, tenantId, event);
  switch (event.type) {
    case "checkout.session.completed": {
      const session = event.data.object;
      const subscriptionId =
        typeof session.subscription === "string" ? session.subscription : session.subscription?.id;
      if (!subscriptionId)
        return { outcome: "no-change", tenantId, detail: "checkout completed without a subscription" };
      return syncSubscription(deps, db, account, subscriptionId, event, { adopt: true });
    }
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
      return syncSubscription(deps, db, account, event.data.object.id, event, {
        adopt: event.type === "customer.subscription.created",
      });
    case "customer.subscription.trial_will_end": {
      const subscription = event.data.object;
      await queueTask(
        db,
        tenantId,
        "billing_notice",
        `billing-trial-ending:${subscription.id}:${subscription.trial_end ?? 0}`,
        {
          notice: "trial_will_end",
          subscription: subscription.id,
          trialEndsAt: subscription.trial_end ? new Date(subscription.trial_end * 1000).toISOString() : null,
        },
      );
      return syncSubscription(deps, db, account, subscription.id, event, { adopt: false });
    }
    case "invoice.paid":
    case "invoice.payment_failed": {
      const invoice = event.data.object;
      if (event.type === "invoice.payment_failed") {
        // One notice per invoice and payment attempt, however often Stripe tells us about it.
        await queueTask(
          db,
          tenantId,
          "billing_notice",
          `billing-dunning:${invoice.id}:${invoice.attempt_count}`,
          {
            notice: "payment_failed",
            invoice: invoice.id,
            attempt: invoice.attempt_count,
            amountDueCents: invoice.amount_due,
            currency: invoice.currency,
            nextPaymentAttemptAt: invoice.next_payment_attempt
              ? new Date(invoice.next_payment_attempt * 1000).toISOString()
              : null,
            hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
          },
        );
      }
      const ref = invoice.parent?.subscription_details?.subscription;
      const subscriptionId = typeof ref === "string" ? ref : ref?.id;
      if (!subscriptionId)
        return { outcome: "recorded", tenantId, detail: `invoice ${invoice.id} is not for a subscription` };
      return syncSubscription(deps, db, account, subscriptionId, event, { adopt: false });
    }
    case "entitlements.active_entitlement_summary.updated": {
      const summary = event.data.object;
      const features = summary.entitlements.data.map((e) => e.lookup_key).sort();
      await db.query(
        "UPDATE billing_accounts SET stripe_features = $2, updated_at = now() WHERE tenant_id = $1",
        [tenantId, features],
      );
      return { outcome: "recorded", tenantId, detail: `features: ${features.join(", ") || "(none)"}` };
    }
    default:
      return { outcome: "no-change", tenantId, detail: `event type ${event.type} has no effect` };
  }
}

/**
 * The customer's email as Stripe gives it at checkout and on every invoice: where billing notices go
 * (the runner reads it). Recorded before any notice of the same event is queued.
 */
async function recordBillingContact(db: Db, tenantId: string, event: Stripe.Event): Promise<void> {
  let email: string | null | undefined;
  if (event.type === "checkout.session.completed")
    email = event.data.object.customer_details?.email ?? event.data.object.customer_email;
  else if (event.type === "invoice.paid" || event.type === "invoice.payment_failed")
    email = event.data.object.customer_email;
  if (!email) return;
  await db.query(
    `UPDATE billing_accounts SET billing_email = $2, updated_at = now()
      WHERE tenant_id = $1 AND billing_email IS DISTINCT FROM $2`,
    [tenantId, email],
  );
}

/** The tenant's billing row for the event's customer, locked until commit (one writer per tenant). */
async function lockAccount(
  db: Db,
  event: Stripe.Event,
  object: { customer?: string | { id: string } | null },
): Promise<AccountRow | undefined> {
  const customer = customerOf(object);
  if (!customer) return undefined;
  const select = `SELECT a.tenant_id, t.slug, a.stripe_customer_id, a.stripe_subscription_id, a.plan_id,
                         a.billing_status, a.past_due_since
                    FROM billing_accounts a JOIN tenants t ON t.id = a.tenant_id
                   WHERE a.stripe_customer_id = $1 FOR UPDATE OF a`;
  const { rows } = await db.query<AccountRow>(select, [customer]);
  if (rows[0]) return rows[0];
  // A Checkout started outside our API (dashboard, payment link) names the tenant it was for.
  if (event.type === "checkout.session.completed") {
    const reference = event.data.object.client_reference_id;
    if (reference && UUID.test(reference)) {
      await db.query(
        `INSERT INTO billing_accounts (tenant_id, stripe_customer_id)
         SELECT id, $2 FROM tenants WHERE id = $1 ON CONFLICT DO NOTHING`,
        [reference, customer],
      );
      return (await db.query<AccountRow>(select, [customer])).rows[0];
    }
  }
  return undefined;
}

export async function syncSubscription(
  deps: BillingDeps,
  db: Db,
  account: AccountRow,
  subscriptionId: string,
  event: Stripe.Event,
  options: { adopt: boolean },
): Promise<EventResult> {
  const tenantId = account.tenant_id;
  // The current state, not the event's snapshot: an older event can never step the tenant back.
  let subscription: ReturnType<typeof subscriptionSnapshot>;
  try {
    subscription = subscriptionSnapshot(await deps.stripe.subscriptions.retrieve(subscriptionId));
  } catch (error) {
    // Stripe has no such subscription (another account's, or a forged id): nothing to apply.
    if (error instanceof StripeErrors.StripeInvalidRequestError && error.statusCode === 404)
      return { outcome: "malformed", tenantId, detail: `Stripe has no subscription ${subscriptionId}` };
    throw error;
  }
  if (subscription.customer !== account.stripe_customer_id) {
    return {
      outcome: "customer-mismatch",
      tenantId,
      detail: `subscription ${subscription.id} belongs to ${subscription.customer}, not ${account.stripe_customer_id}`,
    };
  }
  const ended = subscription.status === "canceled" || subscription.status === "incomplete_expired";
  const current = account.stripe_subscription_id;
  if (current && current !== subscription.id && (ended || !options.adopt)) {
    // The tenant moved to another subscription; news about the old one changes nothing.
    return {
      outcome: "superseded",
      tenantId,
      detail: `subscription ${subscription.id} is not the tenant's current one (${current})`,
    };
  }
  const now = deps.now?.() ?? new Date();
  const decision = decideSubscription(
    subscription,
    { planId: account.plan_id, billingStatus: account.billing_status, pastDueSince: account.past_due_since },
    deps.catalog,
    { now, graceDays: deps.graceDays },
  );
  const record = (fields: {
    plan?: string | null;
    billingStatus?: BillingStatus | null;
    pastDueSince?: Date | null;
    graceEndsAt?: Date | null;
  }) =>
    db.query(
      `UPDATE billing_accounts
          SET stripe_subscription_id = $2, stripe_price_id = $3, subscription_status = $4,
              current_period_end = $5, plan_id = coalesce($6, plan_id), billing_status = coalesce($7, billing_status),
              past_due_since = CASE WHEN $8 THEN $9::timestamptz ELSE past_due_since END,
              grace_ends_at = CASE WHEN $8 THEN $10::timestamptz ELSE grace_ends_at END,
              state_as_of = greatest(state_as_of, to_timestamp($11)), updated_at = now()
        WHERE tenant_id = $1`,
      [
        tenantId,
        subscription.id,
        subscription.priceId ?? null,
        subscription.status,
        subscription.currentPeriodEnd ?? null,
        fields.plan ?? null,
        fields.billingStatus ?? null,
        "pastDueSince" in fields,
        fields.pastDueSince ?? null,
        fields.graceEndsAt ?? null,
        event.created,
      ],
    );

  if (decision.kind === "noChange") {
    await record({});
    return { outcome: "no-change", tenantId, detail: decision.reason };
  }
  if (decision.kind === "unknownPrice") {
    // Never guess a plan: ops maps the price (STRIPE_PRICE_PLANS) and resends the event.
    await record({});
    await queueTask(
      db,
      tenantId,
      "billing_alert",
      `billing-unknown-price:${subscription.id}:${decision.priceId ?? "none"}`,
      {
        alert: "unknown_price",
        subscription: subscription.id,
        price: decision.priceId ?? null,
        status: subscription.status,
        action:
          "Add the price to STRIPE_PRICE_PLANS (price=plan), restart billing, then resend the event from the Stripe dashboard.",
      },
    );
    deps.log.warn(
      { tenant: account.slug, subscription: subscription.id, price: decision.priceId },
      "subscription on a price no plan maps to: tenant plan unchanged, alert queued",
    );
    return {
      outcome: "unknown-price",
      tenantId,
      detail: `price ${decision.priceId ?? "(none)"} maps to no plan; plan left unchanged`,
    };
  }
  try {
    await deps.writer.apply(account.slug, { plan: decision.plan, billingStatus: decision.billingStatus });
    if (decision.billingStatus === "active" && !PAYING.has(account.billing_status ?? ""))
      await recordTrialConversion(db, tenantId, decision.plan, subscription.id);
  } catch (error) {
    if (!(error instanceof TenantResourceMissing)) throw error;
    await queueTask(db, tenantId, "billing_alert", `billing-tenant-missing:${account.slug}:${event.id}`, {
      alert: "tenant_resource_missing",
      event: event.id,
      detail: error.message,
    });
    deps.log.error({ tenant: account.slug, event: event.id }, error.message);
    return { outcome: "tenant-missing", tenantId, detail: error.message };
  }
  await record({
    plan: decision.plan,
    billingStatus: decision.billingStatus,
    pastDueSince: decision.pastDueSince,
    graceEndsAt: decision.graceEndsAt,
  });
  deps.log.info(
    {
      tenant: account.slug,
      plan: decision.plan,
      billingStatus: decision.billingStatus,
      event: event.id,
      target: deps.writer.target,
    },
    `billing applied: ${decision.reason}`,
  );
  return { outcome: "applied", tenantId, detail: decision.reason };
}

/** An agent task; a repeat of the same dedupe key is a no-op. True when it was queued now. */
export async function queueTask(
  db: Db,
  tenantId: string,
  kind: "billing_alert" | "billing_notice",
  dedupeKey: string,
  payload: Record<string, unknown>,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key) VALUES ($1, $2, $3, $4)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [tenantId, kind, JSON.stringify(payload), dedupeKey],
  );
  return rowCount === 1;
}

/**
 * Past-due tenants whose grace period ended while Stripe kept retrying: re-decide them now (the
 * decision downgrades them). Runs on billing's timer; each tenant under its own row lock.
 */
export async function expireGracePeriods(deps: BillingDeps): Promise<string[]> {
  const { rows } = await deps.pool.query<{ tenant_id: string; stripe_subscription_id: string }>(
    `SELECT tenant_id, stripe_subscription_id FROM billing_accounts
      WHERE billing_status = 'past_due' AND grace_ends_at <= now() AND plan_id IS DISTINCT FROM $1
        AND stripe_subscription_id IS NOT NULL`,
    [deps.catalog.freePlan],
  );
  const downgraded: string[] = [];
  for (const row of rows) {
    const result = await transaction(deps.pool, async (db) => {
      const { rows: locked } = await db.query<AccountRow>(
        `SELECT a.tenant_id, t.slug, a.stripe_customer_id, a.stripe_subscription_id, a.plan_id,
                a.billing_status, a.past_due_since
           FROM billing_accounts a JOIN tenants t ON t.id = a.tenant_id WHERE a.tenant_id = $1 FOR UPDATE OF a`,
        [row.tenant_id],
      );
      const account = locked[0];
      if (!account) return undefined;
      const tick = { id: "grace-expiry", created: Math.floor(Date.now() / 1000) } as Stripe.Event;
      return syncSubscription(deps, db, account, row.stripe_subscription_id, tick, { adopt: false });
    });
    if (result?.outcome === "applied") downgraded.push(row.tenant_id);
  }
  return downgraded;
}
