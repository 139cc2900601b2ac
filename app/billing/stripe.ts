// The one stripe-node client billing uses. STRIPE_API_URL points it at stripe-mock or the local test
// server (plain HTTP on loopback); otherwise it talks to api.stripe.com. The API version is the one
// this stripe-node release is typed against, so responses match the types we read them with.
//
// The key comes from its mounted file (app/env.ts secretValue): stripe-node fixes the key when the
// client is built, so the client handed out is a stand-in that rebuilds the real one whenever the
// file's key changed. A rotated (rolled) Stripe key is used from the next call on, without a restart.
import Stripe from "stripe";

import { secretValue } from "../env.ts";

export function createStripeClient(config: { STRIPE_SECRET_KEY?: string; STRIPE_API_URL?: string }): Stripe {
  const key = secretValue(config, "STRIPE_SECRET_KEY");
  if (!key) throw new Error("STRIPE_SECRET_KEY is required to call Stripe");
  const target = config.STRIPE_API_URL ? new URL(config.STRIPE_API_URL) : undefined;
  let current = key.read();
  let client = stripeClient(current, target);
  return new Proxy(client, {
    get(_stand_in, property) {
      const now = key.read();
      if (now !== current) {
        current = now;
        client = stripeClient(now, target);
      }
      const value: unknown = Reflect.get(client, property, client);
      return typeof value === "function" ? value.bind(client) : value;
    },
  });
}

function stripeClient(key: string, target: URL | undefined): Stripe {
  return new Stripe(key, {
    // Retries reuse the request's Idempotency-Key, so a retried POST never acts twice.
    maxNetworkRetries: 2,
    timeout: 10_000,
    appInfo: { name: "freight-platform-billing" },
    ...(target
      ? {
          host: target.hostname,
          port: Number(target.port || (target.protocol === "https:" ? 443 : 80)),
          protocol: target.protocol === "https:" ? ("https" as const) : ("http" as const),
        }
      : {}),
  });
}

/** The subscription fields billing decides on, from a Stripe subscription object. */
export function subscriptionSnapshot(subscription: Stripe.Subscription): {
  id: string;
  status: string;
  customer: string;
  priceId: string | undefined;
  currentPeriodEnd: Date | undefined;
} {
  const item = subscription.items.data[0];
  return {
    id: subscription.id,
    status: subscription.status,
    customer: typeof subscription.customer === "string" ? subscription.customer : subscription.customer.id,
    priceId: item?.price.id,
    currentPeriodEnd: item?.current_period_end ? new Date(item.current_period_end * 1000) : undefined,
  };
}
