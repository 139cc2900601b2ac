// Trial expiry and trial -> paid conversions. A trial that ends moves the tenant to its billing state
// through the same path dunning uses: a tenant with a Stripe subscription is re-decided from Stripe's
// current state (syncSubscription: paying -> its paid plan), anyone else lands on the free plan,
// server-side applied to Tenant.spec by billing's field manager. The billing status says why:
//   unpaid    checkout pending: a Stripe customer (checkout started) but no subscription paying yet;
//   canceled  no checkout at all, as Stripe cancels a trial that ends without a payment method.
// A conversion is recorded once, in the transaction that applies a paid plan to a tenant that had a
// trial (webhook.ts), so the executive dashboard's Trial -> paid panel counts real rows.
import Stripe from "stripe";
import type { BillingStatus } from "../../operators/api/tenant.ts";
import { transaction, type Db } from "../db/pool.ts";
import { TenantResourceMissing } from "./tenant-resource.ts";
import { queueTask, syncSubscription, type AccountRow, type BillingDeps } from "./webhook.ts";

export interface EndedTrial {
  tenantId: string;
  slug: string;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
}

export type TrialEndDecision =
  | { kind: "sync"; subscriptionId: string }
  | { kind: "apply"; plan: string; billingStatus: BillingStatus; reason: string };

/** What an ended trial becomes, before Stripe is asked (a subscription defers to Stripe's state). */
export function decideTrialEnd(trial: EndedTrial, freePlan: string): TrialEndDecision {
  if (trial.stripeSubscriptionId) return { kind: "sync", subscriptionId: trial.stripeSubscriptionId };
  return trial.stripeCustomerId
    ? { kind: "apply", plan: freePlan, billingStatus: "unpaid", reason: "trial ended with checkout pending" }
    : { kind: "apply", plan: freePlan, billingStatus: "canceled", reason: "trial ended without a checkout" };
}

/** Records that a trial tenant started paying; a tenant converts once (the first time counts). */
export async function recordTrialConversion(
  db: Db,
  tenantId: string,
  plan: string,
  subscriptionId: string | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO trial_conversions (tenant_id, trial_ends_at, plan_id, stripe_subscription_id)
     SELECT id, trial_ends_at, $2, $3 FROM tenants WHERE id = $1 AND trial_ends_at IS NOT NULL
     ON CONFLICT (tenant_id) DO NOTHING`,
    [tenantId, plan, subscriptionId],
  );
  return rowCount === 1;
}

export interface TrialExpiryResult {
  slug: string;
  plan?: string;
  billingStatus?: string;
  outcome: "applied" | "tenant-missing" | "skipped";
  detail: string;
}

/**
 * Every tenant whose trial has ended and that is still trialing, moved to its billing state. Each
 * under a transaction-scoped lock (its billing row when it has one, an advisory lock otherwise), so
 * two runs or a concurrent webhook never interleave on one tenant.
 */
export async function expireTrials(deps: BillingDeps): Promise<TrialExpiryResult[]> {
  const { rows } = await deps.pool.query<{ id: string }>(
    `SELECT t.id FROM tenants t
      WHERE t.billing_status = 'trialing' AND t.trial_ends_at <= now() AND t.disabled_at IS NULL
      ORDER BY t.trial_ends_at`,
  );
  const results: TrialExpiryResult[] = [];
  for (const { id } of rows) {
    const result = await transaction(deps.pool, (db) => expireTrial(deps, db, id));
    if (result) results.push(result);
  }
  return results;
}

async function expireTrial(
  deps: BillingDeps,
  db: Db,
  tenantId: string,
): Promise<TrialExpiryResult | undefined> {
  await db.query("SELECT pg_advisory_xact_lock(20261202, hashtext($1))", [tenantId]);
  // The billing row's lock is the one the webhook takes: a checkout completing now waits for us, or we for it.
  await db.query("SELECT 1 FROM billing_accounts WHERE tenant_id = $1 FOR UPDATE", [tenantId]);
  const { rows } = await db.query<AccountRow & { trialing: boolean; has_account: boolean }>(
    `SELECT t.id AS tenant_id, t.slug, a.stripe_customer_id, a.stripe_subscription_id, a.plan_id, a.billing_status,
            a.past_due_since, a.tenant_id IS NOT NULL AS has_account,
            t.billing_status = 'trialing' AND t.trial_ends_at <= now() AS trialing
       FROM tenants t LEFT JOIN billing_accounts a ON a.tenant_id = t.id
      WHERE t.id = $1`,
    [tenantId],
  );
  const account = rows[0];
  if (!account?.trialing) return undefined;
  const decision = decideTrialEnd(
    {
      tenantId,
      slug: account.slug,
      stripeCustomerId: account.has_account ? account.stripe_customer_id : null,
      stripeSubscriptionId: account.stripe_subscription_id,
    },
    deps.catalog.freePlan,
  );
  if (decision.kind === "sync") {
    const tick = { id: "trial-expiry", created: Math.floor(Date.now() / 1000) } as Stripe.Event;
    const synced = await syncSubscription(deps, db, account, decision.subscriptionId, tick, { adopt: false });
    if (synced.outcome === "applied" || synced.outcome === "tenant-missing")
      return { slug: account.slug, outcome: synced.outcome, detail: synced.detail };
    // Stripe has nothing paying to apply (incomplete: the first payment never went through).
  }
  const landing =
    decision.kind === "apply"
      ? decision
      : {
          plan: deps.catalog.freePlan,
          billingStatus: "unpaid" as const,
          reason: "trial ended; the subscription's first payment is still pending",
        };
  try {
    await deps.writer.apply(account.slug, { plan: landing.plan, billingStatus: landing.billingStatus });
  } catch (error) {
    if (!(error instanceof TenantResourceMissing)) throw error;
    await queueTask(db, tenantId, "billing_alert", `billing-tenant-missing:${account.slug}:trial-expiry`, {
      alert: "tenant_resource_missing",
      event: "trial-expiry",
      detail: error.message,
    });
    return { slug: account.slug, outcome: "tenant-missing", detail: error.message };
  }
  if (account.has_account)
    await db.query(
      "UPDATE billing_accounts SET plan_id = $2, billing_status = $3, updated_at = now() WHERE tenant_id = $1",
      [tenantId, landing.plan, landing.billingStatus],
    );
  deps.log.info(
    {
      tenant: account.slug,
      plan: landing.plan,
      billingStatus: landing.billingStatus,
      target: deps.writer.target,
    },
    `trial expired: ${landing.reason}`,
  );
  return {
    slug: account.slug,
    plan: landing.plan,
    billingStatus: landing.billingStatus,
    outcome: "applied",
    detail: landing.reason,
  };
}
