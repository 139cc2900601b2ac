// What a Stripe subscription means for a tenant: the Plan it is on and its billing status. A pure
// decision (no I/O) so every Stripe status and the dunning grace period are tested in isolation.
import type { BillingStatus } from "../../operators/api/tenant.ts";
import type { BillingCatalog } from "./catalog.ts";

/** The part of a Stripe subscription the decision needs. */
export interface SubscriptionSnapshot {
  id: string;
  status: string;
  priceId: string | undefined;
  currentPeriodEnd: Date | undefined;
}

/** What billing last decided for the tenant. */
export interface AccountState {
  planId: string | null;
  billingStatus: BillingStatus | null;
  pastDueSince: Date | null;
}

export type SubscriptionDecision =
  | {
      kind: "apply";
      plan: string;
      billingStatus: BillingStatus;
      pastDueSince: Date | null;
      graceEndsAt: Date | null;
      /** A sentence for the logs and the event outcome. */
      reason: string;
    }
  | { kind: "unknownPrice"; priceId: string | undefined; billingStatus: BillingStatus | null }
  | { kind: "noChange"; reason: string };

const DAY_MS = 86_400_000;

export function decideSubscription(
  subscription: SubscriptionSnapshot,
  account: AccountState,
  catalog: BillingCatalog,
  options: { now: Date; graceDays: number },
): SubscriptionDecision {
  const paidPlan = subscription.priceId ? catalog.planByPrice.get(subscription.priceId) : undefined;
  const free = catalog.freePlan;
  switch (subscription.status) {
    case "active":
    case "trialing": {
      if (!paidPlan)
        return { kind: "unknownPrice", priceId: subscription.priceId, billingStatus: subscription.status };
      return {
        kind: "apply",
        plan: paidPlan,
        billingStatus: subscription.status,
        pastDueSince: null,
        graceEndsAt: null,
        reason: `subscription ${subscription.status} on ${subscription.priceId}`,
      };
    }
    case "past_due": {
      // Stripe is retrying the payment: the customer keeps what they paid for until the grace ends.
      const since = account.pastDueSince ?? options.now;
      const graceEndsAt = new Date(since.getTime() + options.graceDays * DAY_MS);
      if (options.now.getTime() >= graceEndsAt.getTime()) {
        return {
          kind: "apply",
          plan: free,
          billingStatus: "past_due",
          pastDueSince: since,
          graceEndsAt,
          reason: `past due since ${since.toISOString()}; the ${options.graceDays}-day grace period ended`,
        };
      }
      if (!paidPlan)
        return { kind: "unknownPrice", priceId: subscription.priceId, billingStatus: "past_due" };
      return {
        kind: "apply",
        plan: paidPlan,
        billingStatus: "past_due",
        pastDueSince: since,
        graceEndsAt,
        reason: `past due; access kept until ${graceEndsAt.toISOString()}`,
      };
    }
    case "unpaid":
    case "paused":
      return {
        kind: "apply",
        plan: free,
        billingStatus: "unpaid",
        pastDueSince: account.pastDueSince,
        graceEndsAt: null,
        reason: `subscription ${subscription.status}: downgraded to ${free}`,
      };
    case "canceled":
    case "incomplete_expired":
      return {
        kind: "apply",
        plan: free,
        billingStatus: "canceled",
        pastDueSince: null,
        graceEndsAt: null,
        reason: `subscription ${subscription.status}: downgraded to ${free}`,
      };
    default:
      // incomplete: the first payment has not gone through; nothing was bought yet.
      return { kind: "noChange", reason: `subscription ${subscription.status}: nothing to apply yet` };
  }
}
