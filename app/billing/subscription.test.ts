import { describe, expect, it } from "vitest";
import { catalogFromConfig } from "./catalog.ts";
import { decideSubscription, type AccountState, type SubscriptionSnapshot } from "./subscription.ts";

const catalog = catalogFromConfig({
  STRIPE_PRICE_PLANS: "price_pro_monthly=pro,price_pro_annual=pro,price_enterprise_monthly=enterprise",
  STRIPE_OVERAGE_METERS: "quotes=freight_quotes_overage",
  BILLING_FREE_PLAN: "starter",
});
const now = new Date("2026-11-20T12:00:00Z");
const sub = (status: string, priceId: string | undefined = "price_pro_annual"): SubscriptionSnapshot => ({
  id: "sub_1",
  status,
  priceId,
  currentPeriodEnd: undefined,
});
const fresh: AccountState = { planId: null, billingStatus: null, pastDueSince: null };
const decide = (s: SubscriptionSnapshot, account = fresh) =>
  decideSubscription(s, account, catalog, { now, graceDays: 7 });

describe("what a subscription means for the tenant", () => {
  it("active and trialing buy the price's plan; any price of a plan maps to it", () => {
    expect(decide(sub("active"))).toMatchObject({ kind: "apply", plan: "pro", billingStatus: "active" });
    expect(decide(sub("trialing", "price_enterprise_monthly"))).toMatchObject({
      plan: "enterprise",
      billingStatus: "trialing",
    });
  });

  it("an unmapped price is never guessed, in any paying state", () => {
    for (const status of ["active", "trialing", "past_due"])
      expect(decide(sub(status, "price_unknown"))).toMatchObject({
        kind: "unknownPrice",
        priceId: "price_unknown",
      });
    expect(decide({ ...sub("active"), priceId: undefined })).toMatchObject({ kind: "unknownPrice" });
  });

  it("past_due keeps the plan for the grace period, counted from when it first went past due", () => {
    const first = decide(sub("past_due"));
    expect(first).toMatchObject({ kind: "apply", plan: "pro", billingStatus: "past_due", pastDueSince: now });
    expect(first.kind === "apply" && first.graceEndsAt?.toISOString()).toBe("2026-11-27T12:00:00.000Z");

    const since = new Date("2026-11-15T00:00:00Z");
    const later = decide(sub("past_due"), { planId: "pro", billingStatus: "past_due", pastDueSince: since });
    expect(later).toMatchObject({ plan: "pro", pastDueSince: since });
  });

  it("past_due beyond the grace period falls back to the free plan, still past_due", () => {
    const since = new Date("2026-11-10T00:00:00Z");
    expect(
      decide(sub("past_due"), { planId: "pro", billingStatus: "past_due", pastDueSince: since }),
    ).toMatchObject({
      kind: "apply",
      plan: "starter",
      billingStatus: "past_due",
    });
  });

  it("unpaid, paused, canceled and expired checkouts downgrade to the free plan", () => {
    expect(decide(sub("unpaid"))).toMatchObject({ plan: "starter", billingStatus: "unpaid" });
    expect(decide(sub("paused"))).toMatchObject({ plan: "starter", billingStatus: "unpaid" });
    expect(decide(sub("canceled"))).toMatchObject({ plan: "starter", billingStatus: "canceled" });
    expect(decide(sub("incomplete_expired"))).toMatchObject({ plan: "starter", billingStatus: "canceled" });
    // Downgrades do not depend on the price being known.
    expect(decide(sub("canceled", "price_unknown"))).toMatchObject({ kind: "apply", plan: "starter" });
  });

  it("an incomplete first payment changes nothing yet", () => {
    expect(decide(sub("incomplete"))).toMatchObject({ kind: "noChange" });
  });

  it("the catalog refuses an overage mapping for a meter that does not exist", () => {
    expect(() =>
      catalogFromConfig({
        STRIPE_PRICE_PLANS: "p=pro",
        STRIPE_OVERAGE_METERS: "lanes=x",
        BILLING_FREE_PLAN: "starter",
      }),
    ).toThrow(/unknown meter 'lanes'/);
  });
});
