// Webhook-to-enforcement latency: how long from Stripe's POST /webhooks/stripe until the API admits
// (upgrade) or refuses (downgrade) what the new plan says. Runs the whole path locally: the app with
// BILLING=on, the local Stripe server, a local control plane, the tenant controller, PostgreSQL.
//
//   npm run bench:billing [-- --rounds 20]
import { parseArgs } from "node:util";
import { pino } from "pino";
import { plans as plansRef, tenants as tenantsRef } from "../operators/api/resources.ts";
import { addTenantController } from "../operators/controllers/tenant/controller.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { Manager } from "../operators/runtime/manager.ts";
import { applyAs, startOperatorPlatform, TENANT_NAMESPACE, waitFor } from "../tools/platform/operators.ts";
import { createPool } from "../app/db/pool.ts";
import { generateApiKey } from "../app/http/auth.ts";
import { apiClient, quoteBody } from "../tools/platform/api-client.ts";
import { deliver, startBillingApp, stripeEvent } from "../tools/platform/billing.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "20" } } });
const rounds = Number(values.rounds);

const plan = (name: string, rank: number, included: number) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank,
    monthlyPriceCents: rank * 10_000,
    meters: [{ name: "quotes", included, overageAllowed: false, hardCeiling: included }],
    rateLimits: { requestsPerSecond: 1000, burst: 1000, bulkJobConcurrency: 1 },
  },
});

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(0)} ms, p95 ${at(0.95).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms (n=${samples.length})`;
}

const platform = await startOperatorPlatform("billing-bench");
const operatorDb = createPool(platform.db.urls.operator, 4);
const manager = new Manager({
  client: new KubeClient(platform.cluster.kubeConfig, { userAgent: "billing-bench" }),
  log: pino({ level: "silent" }),
  identity: "billing-bench",
});
let billingApp: Awaited<ReturnType<typeof startBillingApp>> | undefined;
try {
  await applyAs(platform.admin, plansRef, plan("starter", 1, 3));
  await applyAs(platform.admin, plansRef, plan("pro", 2, 1_000_000));
  addTenantController(manager, { pool: operatorDb, usageRefreshMs: 60_000 });
  await manager.start();
  billingApp = await startBillingApp({
    db: platform.db,
    env: { KUBECONFIG: platform.cluster.kubeconfigPath, BILLING_TENANT_NAMESPACE: TENANT_NAMESPACE },
  });
  await applyAs(platform.admin, tenantsRef, {
    kind: "Tenant",
    metadata: { name: "bench", namespace: TENANT_NAMESPACE },
    spec: { plan: "starter" },
  });
  const tenantId = await waitFor("tenant row", async () => {
    const { rows } = await operatorDb.query<{ id: string }>(
      "SELECT t.id FROM tenants t JOIN entitlements e ON e.tenant_id = t.id WHERE t.slug = 'bench'",
    );
    return rows[0]?.id;
  });
  const key = generateApiKey("test");
  await operatorDb.query(
    "INSERT INTO api_keys (tenant_id, key_prefix, key_hash) VALUES ($1, $2, decode($3, 'hex'))",
    [tenantId, key.prefix, key.hash],
  );
  const api = apiClient(billingApp.url, key.key);
  const app = billingApp;
  for (let i = 0; i < 3; i++) await api.post("/v1/quotes", quoteBody());
  await api.post("/v1/billing/checkout-sessions", { plan: "pro" });
  const customer = [...app.stripe.customers.keys()][0]!;
  const subscriptionId = "sub_bench";

  const change = async (status: "active" | "unpaid", expect: number): Promise<number> => {
    const subscription = app.stripe.putSubscription({
      id: subscriptionId,
      customer,
      price: "price_pro_monthly",
      status,
    });
    const started = performance.now();
    const result = await deliver(app.url, stripeEvent("customer.subscription.updated", subscription));
    if (result.status !== 200)
      throw new Error(`webhook answered ${result.status}: ${JSON.stringify(result.body)}`);
    await waitFor(
      `quotes answered ${expect}`,
      async () => (await api.post("/v1/quotes", quoteBody())).status === expect,
      { timeoutMs: 30_000, intervalMs: 10 },
    );
    return performance.now() - started;
  };

  const upgrades: number[] = [];
  const downgrades: number[] = [];
  for (let round = 0; round < rounds; round++) {
    upgrades.push(await change("active", 201));
    downgrades.push(await change("unpaid", 429));
  }
  console.log(`webhook -> API admits (upgrade to pro):     ${summary(upgrades)}`);
  console.log(`webhook -> API refuses (unpaid -> starter): ${summary(downgrades)}`);
} finally {
  await billingApp?.stop();
  await manager.stop();
  await operatorDb.end();
  await platform.stop();
}
