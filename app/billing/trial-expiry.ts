// The trial expiry job (a CronJob in the active region; also runnable on demand): tenants whose trial
// ended move to their billing state (app/billing/trial.ts), with billing's login, Stripe key and
// Tenant writes (billing's Role, in-cluster as the job's ServiceAccount).
//
//   BILLING_DATABASE_URL=postgres://freight_billing:...@db/freight STRIPE_SECRET_KEY=sk_... \
//     KUBECONFIG=~/.kube/prod-primary npm run billing:trial-expiry
//
// Exit codes: 0 done (each tenant's outcome printed); 1 a Tenant resource was missing (a billing_alert
// is queued too); 78 configuration error (app/env.ts).
import { pino } from "pino";
import { appConfigSchema } from "../config.ts";
import { createPool } from "../db/pool.ts";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { catalogFromConfig } from "./catalog.ts";
import { createStripeClient } from "./stripe.ts";
import { tenantPlanWriterFromConfig } from "./tenant-resource.ts";
import { expireTrials, type TrialExpiryResult } from "./trial.ts";

// The app's own definitions of the billing variables (and their defaults).
const trialExpiryConfigSchema = appConfigSchema
  .pick({
    STRIPE_API_URL: true,
    STRIPE_PRICE_PLANS: true,
    STRIPE_OVERAGE_METERS: true,
    BILLING_FREE_PLAN: true,
    BILLING_GRACE_DAYS: true,
    BILLING_TENANT_NAMESPACE: true,
    KUBECONFIG: true,
    KUBERNETES_API: true,
    LOG_LEVEL: true,
  })
  .extend({
    BILLING_DATABASE_URL: postgresUrl(
      "the freight_billing role's connection URL",
      "postgres://freight_billing:...@host:5432/freight",
    ),
    STRIPE_SECRET_KEY: appConfigSchema.shape.STRIPE_SECRET_KEY.unwrap(),
  });

export const trialExpiryEnv = defineEnv({
  process: "trial expiry job",
  schema: trialExpiryConfigSchema,
  secrets: ["BILLING_DATABASE_URL", "STRIPE_SECRET_KEY"],
  check: (config) => {
    if (config.KUBERNETES_API && config.KUBECONFIG)
      return [
        { variable: "KUBERNETES_API", message: "is in-cluster while KUBECONFIG is set too; unset one" },
      ];
    // Without a control plane nothing would change: refuse rather than report success.
    if (!config.KUBERNETES_API && !config.KUBECONFIG)
      return [
        {
          variable: "KUBERNETES_API",
          message:
            "or KUBECONFIG is required: trials end by changing Tenant.spec (KUBERNETES_API=in-cluster in a pod)",
        },
      ];
    return [];
  },
});

/** The trial expiry job's configuration from `env`; throws ConfigError listing every problem. */
export function parseTrialExpiryConfig(env: Env) {
  return trialExpiryEnv.parse(env);
}

export async function runTrialExpiry(env: Env = process.env): Promise<TrialExpiryResult[]> {
  const config = parseTrialExpiryConfig(env);
  const log = pino({ level: config.LOG_LEVEL, base: { component: "trial-expiry" } });
  const pool = createPool(config.BILLING_DATABASE_URL, 2);
  const writer = tenantPlanWriterFromConfig(config);
  try {
    return await expireTrials({
      pool,
      stripe: createStripeClient(config),
      writer,
      catalog: catalogFromConfig(config),
      graceDays: config.BILLING_GRACE_DAYS,
      log,
    });
  } finally {
    writer.close();
    await pool.end();
  }
}

async function main(): Promise<void> {
  loadEnv(trialExpiryEnv);
  const results = await runTrialExpiry();
  for (const r of results)
    console.log(`${r.outcome}  ${r.slug}  ${r.plan ? `${r.plan}/${r.billingStatus}  ` : ""}${r.detail}`);
  console.log(`${results.length} trial(s) ended.`);
  if (results.some((r) => r.outcome === "tenant-missing")) process.exitCode = 1;
}

if (import.meta.main) await main();
