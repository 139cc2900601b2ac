// Billing as the app process runs it (BILLING=on): the Stripe client, the freight_billing pool, where
// plan decisions go (the Tenant resources on the control plane, or nowhere without KUBECONFIG), and a
// timer that expires dunning grace periods and reports overage.
import { pino, type Logger } from "pino";
import type Stripe from "stripe";
import type { AppConfig } from "../config.ts";
import { createPool } from "../db/pool.ts";
import { secretValue } from "../env.ts";
import { catalogFromConfig } from "./catalog.ts";
import { collectOverage, sendOverage } from "./overage.ts";
import { createStripeClient } from "./stripe.ts";
import { tenantPlanWriterFromConfig, type TenantPlanWriter } from "./tenant-resource.ts";
import { expireGracePeriods, type BillingDeps } from "./webhook.ts";

export interface BillingService {
  deps: BillingDeps;
  stripe: Stripe;
  /** The endpoint's signing secret as its file holds it now: a rolled secret verifies at once. */
  readonly webhookSecret: string;
  /** One round of the timer's work; also what tests and `billing:report-overage` call. */
  tick(): Promise<{ downgraded: number; queued: number; sent: number; retrying: number; failed: number }>;
  start(): void;
  stop(): Promise<void>;
}

export function createBilling(
  config: AppConfig,
  options: { log?: Logger; writer?: TenantPlanWriter; now?: () => Date } = {},
): BillingService {
  if (!config.STRIPE_WEBHOOK_SECRET || !config.STRIPE_SECRET_KEY || !config.BILLING_DATABASE_URL)
    throw new Error(
      "billing needs STRIPE_WEBHOOK_SECRET, STRIPE_SECRET_KEY and BILLING_DATABASE_URL (parseAppConfig checks this)",
    );
  const log =
    options.log ??
    pino({ level: config.LOG_LEVEL, base: { component: "billing", region: config.REGION_NAME } });
  const stripe = createStripeClient(config);
  const writer = options.writer ?? tenantPlanWriterFromConfig(config);
  const pool = createPool(secretValue(config, "BILLING_DATABASE_URL")!, 4);
  const webhookSecret = secretValue(config, "STRIPE_WEBHOOK_SECRET")!;
  const deps: BillingDeps = {
    pool,
    stripe,
    writer,
    catalog: catalogFromConfig(config),
    graceDays: config.BILLING_GRACE_DAYS,
    log,
    now: options.now,
  };
  if (!writer.connected) {
    log.warn(
      "BILLING=on without a control plane (neither KUBECONFIG nor KUBERNETES_API=in-cluster is set): Stripe events " +
        "are verified and recorded, but no Tenant plan or billing status will change. Set KUBECONFIG to the cluster's " +
        "kubeconfig, or KUBERNETES_API=in-cluster in a pod, to enforce billing.",
    );
  }
  log.info(
    {
      stripe: config.STRIPE_API_URL ?? "https://api.stripe.com",
      tenantPlans: writer.target,
      prices: Object.fromEntries(deps.catalog.planByPrice),
      graceDays: config.BILLING_GRACE_DAYS,
    },
    "billing on: POST /webhooks/stripe",
  );

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick: BillingService["tick"] = async () => {
    const downgraded = await expireGracePeriods(deps);
    const queued = await collectOverage(pool, deps.catalog);
    const sent = await sendOverage({ pool, stripe, log });
    return { downgraded: downgraded.length, queued: queued.length, ...sent };
  };

  return {
    deps,
    stripe,
    get webhookSecret() {
      return webhookSecret.read();
    },
    tick,
    start() {
      const everyMs = config.BILLING_OVERAGE_INTERVAL_SECONDS * 1000;
      if (everyMs === 0) return;
      timer = setInterval(() => {
        if (running) return; // a slow round (Stripe retries) is not overlapped by the next
        running = tick()
          .then((r) => (r.queued || r.sent || r.failed || r.downgraded) && log.info(r, "billing round"))
          .catch((error: Error) => log.error({ err: error }, "billing round failed; retrying next round"))
          .finally(() => (running = undefined));
      }, everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
      writer.close();
      await pool.end();
    },
  };
}
