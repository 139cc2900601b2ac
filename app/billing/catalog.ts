// Which Stripe price buys which Plan, and which Stripe billing meter receives each meter's overage.
// Read from configuration (STRIPE_PRICE_PLANS, STRIPE_OVERAGE_METERS) so prices can change in Stripe
// without a release; a price missing here is never guessed at (see decideSubscription).
import type { AppConfig } from "../config.ts";
import { METERS, type Meter } from "../metering/meters.ts";

export interface BillingCatalog {
  /** Stripe price id -> Plan name. */
  planByPrice: ReadonlyMap<string, string>;
  /** Plan name -> the price Checkout sells it with (the first listed). */
  priceByPlan: ReadonlyMap<string, string>;
  /** Meter -> Stripe billing meter event_name its overage is reported to. */
  overageEventByMeter: ReadonlyMap<Meter, string>;
  /** The plan a tenant falls back to when it stops paying. */
  freePlan: string;
}

function pairs(value: string): Array<[string, string]> {
  return value
    .split(",")
    .filter(Boolean)
    .map((pair) => pair.split("=") as [string, string]);
}

export function catalogFromConfig(
  config: Pick<AppConfig, "STRIPE_PRICE_PLANS" | "STRIPE_OVERAGE_METERS" | "BILLING_FREE_PLAN">,
): BillingCatalog {
  const planByPrice = new Map(pairs(config.STRIPE_PRICE_PLANS));
  const priceByPlan = new Map<string, string>();
  for (const [price, plan] of planByPrice) if (!priceByPlan.has(plan)) priceByPlan.set(plan, price);
  const overageEventByMeter = new Map<Meter, string>();
  for (const [meter, eventName] of pairs(config.STRIPE_OVERAGE_METERS)) {
    if (!(METERS as readonly string[]).includes(meter))
      throw new Error(
        `STRIPE_OVERAGE_METERS names an unknown meter '${meter}'; meters are ${METERS.join(", ")}`,
      );
    overageEventByMeter.set(meter as Meter, eventName);
  }
  return { planByPrice, priceByPlan, overageEventByMeter, freePlan: config.BILLING_FREE_PLAN };
}
