// Test support for billing: the real app with BILLING=on over a test database, the real stripe-node
// client pointed at the local Stripe server, and Stripe events signed the way Stripe signs them.
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import Stripe from "stripe";
import { parseAppConfig, type AppConfig } from "../../app/config.ts";
import { createPool } from "../../app/db/pool.ts";
import { buildApp } from "../../app/http/app.ts";
import { createMetrics } from "../../app/observability/metrics.ts";
import { PRICING } from "../../app/pricing/data.ts";
import { QuoteEngine } from "../../app/pricing/engine.ts";
import type { TestDatabase } from "../postgres/test-database.ts";
import { createBilling, type BillingService } from "../../app/billing/service.ts";
import { startLocalStripe, type LocalStripe } from "../fakes/stripe-server.ts";
import { ContractCheck } from "./contract-check.ts";

export const WEBHOOK_SECRET = "whsec_test_local_billing_secret";
export const STRIPE_KEY = "sk_test_local_billing_key";

export interface BillingTestApp {
  url: string;
  app: FastifyInstance;
  config: AppConfig;
  billing: BillingService;
  stripe: LocalStripe;
  env: Record<string, string>;
  /** Every answer held to the app's OpenAPI document; stop() fails when one drifted. */
  contract: ContractCheck;
  stop(): Promise<void>;
}

export async function startBillingApp(options: {
  db: TestDatabase;
  env?: Record<string, string>;
  stripe?: LocalStripe;
}): Promise<BillingTestApp> {
  const stripe = options.stripe ?? (await startLocalStripe());
  const env = {
    DATABASE_URL: options.db.urls.app,
    OPS_DATABASE_URL: options.db.urls.ops,
    BILLING_DATABASE_URL: options.db.urls.billing,
    BILLING: "on",
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripe.url,
    BILLING_OVERAGE_INTERVAL_SECONDS: "0",
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    AUTH_CACHE_SECONDS: "0",
    ...options.env,
  };
  const config = parseAppConfig(env);
  const pool = createPool(config.DATABASE_URL, 8);
  const contract = new ContractCheck();
  const billing = createBilling(config, { log: pino({ level: process.env.BILLING_TEST_LOG ?? "silent" }) });
  const app = await buildApp({
    config,
    pool,
    metrics: createMetrics(),
    engine: new QuoteEngine(PRICING),
    billing,
    logger: false,
    observeExchange: contract.observe,
  });
  contract.against(() => app.apiContract.document());
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: address,
    app,
    config,
    billing,
    stripe,
    env,
    contract,
    async stop() {
      await app.close();
      await billing.stop();
      await pool.end();
      if (!options.stripe) await stripe.stop();
      contract.assertClean();
    },
  };
}

let sequence = 0;

/** A Stripe event envelope around `object`, as Stripe delivers it. */
export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; created?: number } = {},
): Record<string, unknown> {
  sequence++;
  return {
    id: options.id ?? `evt_test_${Date.now().toString(36)}${sequence.toString().padStart(6, "0")}`,
    object: "event",
    api_version: Stripe.API_VERSION,
    created: options.created ?? Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

const signer = new Stripe(STRIPE_KEY);

/** POSTs `payload` to the webhook, signed with stripe-node's test header helper. */
export async function deliver(
  baseUrl: string,
  payload: Record<string, unknown> | string,
  options: { secret?: string; timestamp?: number; body?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  const header = signer.webhooks.generateTestHeaderString({
    payload: text,
    secret: options.secret ?? WEBHOOK_SECRET,
    timestamp: options.timestamp,
  });
  const response = await fetch(`${baseUrl}/webhooks/stripe`, {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": header },
    // `body` differs from what was signed when a test tampers with it.
    body: options.body ?? text,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
