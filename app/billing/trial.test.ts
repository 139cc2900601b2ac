// Trial expiry and conversions, as billing lives them: the trial expiry job (its own entry, as the
// CronJob runs it) against the real kube-apiserver with a ServiceAccount bound to billing's Role, the
// local Stripe server and PostgreSQL; the tenant controller turning each decision into the tenant's
// row; a conversion recorded by the real webhook the moment a trial tenant pays; and the executive
// dashboard's Trial -> paid figure read from those rows as freight_ops.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_QUERIES, bindTimeRange } from "../../dashboards/business.ts";
import { billingRole, billingRoleBinding } from "../../operators/api/rbac.ts";
import { plans, tenants } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { builtin } from "../../operators/runtime/kube.ts";
import { ConfigError } from "../env.ts";
import { createPool } from "../db/pool.ts";
import { provisionTenant, seedPlans } from "../db/seed.ts";
import {
  deliver,
  startBillingApp,
  STRIPE_KEY,
  stripeEvent,
  type BillingTestApp,
} from "../../tools/platform/billing.ts";
import { startLocalStripe, type LocalStripe } from "../../tools/fakes/stripe-server.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../tools/platform/operators.ts";
import { parseTrialExpiryConfig, runTrialExpiry } from "./trial-expiry.ts";
import { BILLING_FIELD_MANAGER } from "./tenant-resource.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let platform: OperatorPlatform;
let operator: OperatorProcess;
let operatorDb: pg.Pool;
let billingDb: pg.Pool;
let stripe: LocalStripe;
let billingApp: BillingTestApp;
let jobEnv: Record<string, string>;

const plan = (name: string, rank: number) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank,
    monthlyPriceCents: rank * 10_000,
    meters: [{ name: "quotes", included: 100 * rank, overageAllowed: false, hardCeiling: 100 * rank }],
    rateLimits: { requestsPerSecond: 5, burst: 10, bulkJobConcurrency: 1 },
  },
});

beforeAll(async () => {
  platform = await startOperatorPlatform("trials");
  operatorDb = createPool(platform.db.urls.operator, 2);
  billingDb = createPool(platform.db.urls.billing, 2);
  await seedPlans(operatorDb);
  for (const [name, rank] of [
    ["starter", 1],
    ["pro", 2],
    ["enterprise", 3],
  ] as const)
    await applyAs(platform.admin, plans, plan(name, rank));
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
  });
  stripe = await startLocalStripe();
  // The job's account as the stacks deploy it: billing's Role, bound to its own ServiceAccount.
  const account = { namespace: "freight", name: "trial-expiry" };
  await platform.admin.apply(
    builtin.namespaces,
    { apiVersion: "v1", kind: "Namespace", metadata: { name: account.namespace } },
    { fieldManager: "platform-tests" },
  );
  for (const object of [billingRole(), billingRoleBinding(account)]) {
    const plural = object.kind === "Role" ? "roles" : "rolebindings";
    await platform.admin.apply(
      { group: "rbac.authorization.k8s.io", version: "v1", plural, kind: object.kind, namespaced: true },
      object,
      { fieldManager: "platform-tests" },
    );
  }
  const credentials = await platform.cluster.serviceAccountKubeconfig(account.namespace, account.name);
  jobEnv = {
    BILLING_DATABASE_URL: platform.db.urls.billing,
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_API_URL: stripe.url,
    KUBECONFIG: credentials.kubeconfigPath,
    BILLING_TENANT_NAMESPACE: TENANT_NAMESPACE,
    LOG_LEVEL: "silent",
  };
  billingApp = await startBillingApp({
    db: platform.db,
    stripe,
    env: { KUBECONFIG: platform.cluster.kubeconfigPath, BILLING_TENANT_NAMESPACE: TENANT_NAMESPACE },
  });
}, 1_800_000);

afterAll(async () => {
  await billingApp?.stop();
  await stripe?.stop();
  await operator?.stop();
  await Promise.all([operatorDb?.end(), billingDb?.end()]);
  await platform?.stop();
});

const getTenant = (slug: string) => platform.admin.get<Tenant>(tenants, slug, TENANT_NAMESPACE);

async function dbStatus(slug: string) {
  const { rows } = await operatorDb.query<{ plan_id: string; billing_status: string }>(
    "SELECT plan_id, billing_status FROM tenants WHERE slug = $1",
    [slug],
  );
  return rows[0];
}

/** A Pro trial the tenant controller manages, ending `endsInMs` from now (negative: ended). */
async function trialTenant(slug: string, endsInMs: number, account?: { customer: string }) {
  const tenant = await provisionTenant(operatorDb, {
    slug,
    name: slug,
    planId: "pro",
    billingStatus: "trialing",
  });
  await operatorDb.query("UPDATE tenants SET trial_ends_at = $2 WHERE id = $1", [
    tenant.tenantId,
    new Date(Date.now() + endsInMs),
  ]);
  if (account)
    await billingDb.query("INSERT INTO billing_accounts (tenant_id, stripe_customer_id) VALUES ($1, $2)", [
      tenant.tenantId,
      account.customer,
    ]);
  await applyAs(platform.admin, tenants, {
    kind: "Tenant",
    metadata: { name: slug, namespace: TENANT_NAMESPACE },
    spec: { displayName: slug, plan: "pro", billingStatus: "trialing" },
  });
  await waitFor(
    `${slug} reconciled`,
    async () => (await getTenant(slug)).status?.tenantId === tenant.tenantId,
  );
  return tenant;
}

describe("trial expiry", () => {
  it("moves ended trials to their billing state through billing's own field manager, once", async () => {
    await trialTenant("lapsed-co", -HOUR);
    await trialTenant("pending-co", -2 * HOUR, { customer: "cus_pending" });
    const paying = await trialTenant("paying-co", -3 * HOUR, { customer: "cus_paying" });
    const subscription = stripe.putSubscription({
      customer: "cus_paying",
      price: "price_pro_monthly",
      status: "active",
    });
    await billingDb.query("UPDATE billing_accounts SET stripe_subscription_id = $2 WHERE tenant_id = $1", [
      paying.tenantId,
      subscription.id,
    ]);
    await trialTenant("still-trying-co", 5 * DAY);

    const results = await runTrialExpiry(jobEnv);
    expect(Object.fromEntries(results.map((r) => [r.slug, r.outcome]))).toEqual({
      "lapsed-co": "applied",
      "pending-co": "applied",
      "paying-co": "applied",
    });
    expect((await getTenant("lapsed-co")).spec).toMatchObject({ plan: "starter", billingStatus: "canceled" });
    expect((await getTenant("pending-co")).spec).toMatchObject({ plan: "starter", billingStatus: "unpaid" });
    expect((await getTenant("paying-co")).spec).toMatchObject({ plan: "pro", billingStatus: "active" });
    expect((await getTenant("still-trying-co")).spec).toMatchObject({
      plan: "pro",
      billingStatus: "trialing",
    });
    const managers = (await getTenant("lapsed-co")).metadata as { managedFields?: { manager: string }[] };
    expect(managers.managedFields?.map((m) => m.manager)).toContain(BILLING_FIELD_MANAGER);

    // The tenant controller carries each decision to the tenant's row, the one enforcement reads.
    await waitFor("rows follow the Tenants", async () => {
      const [a, b, c] = await Promise.all(["lapsed-co", "pending-co", "paying-co"].map(dbStatus));
      return (
        a?.billing_status === "canceled" && b?.billing_status === "unpaid" && c?.billing_status === "active"
      );
    });
    expect(await dbStatus("lapsed-co")).toMatchObject({ plan_id: "starter" });

    // The paying trial converted: one row, recorded as billing applied the paid plan.
    const { rows: conversions } = await billingDb.query(
      "SELECT t.slug, c.plan_id, c.stripe_subscription_id FROM trial_conversions c JOIN tenants t ON t.id = c.tenant_id",
    );
    expect(conversions).toEqual([
      { slug: "paying-co", plan_id: "pro", stripe_subscription_id: subscription.id },
    ]);

    // A second run finds nothing left to end.
    expect(await runTrialExpiry(jobEnv)).toEqual([]);
  });

  it("records a conversion when a trial tenant pays, and the Trial -> paid panel reads it", async () => {
    const early = await trialTenant("early-bird-co", 3 * DAY, { customer: "cus_early" });
    const subscription = stripe.putSubscription({
      customer: "cus_early",
      price: "price_enterprise_monthly",
      status: "active",
    });
    const sent = await deliver(
      billingApp.url,
      stripeEvent("customer.subscription.created", { ...subscription, object: "subscription" }),
    );
    expect(sent.status).toBe(200);
    const { rows } = await billingDb.query<{ plan_id: string; converted_at: Date }>(
      "SELECT plan_id, converted_at FROM trial_conversions WHERE tenant_id = $1",
      [early.tenantId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.plan_id).toBe("enterprise");
    expect(Date.now() - rows[0]!.converted_at.getTime()).toBeLessThan(60_000);
    // A renewal or replay later does not convert the tenant again.
    await deliver(
      billingApp.url,
      stripeEvent("customer.subscription.updated", { ...subscription, object: "subscription" }),
    );
    expect(
      (await billingDb.query("SELECT 1 FROM trial_conversions WHERE tenant_id = $1", [early.tenantId])).rows,
    ).toHaveLength(1);

    const ops = new pg.Client({ connectionString: platform.db.urls.ops });
    await ops.connect();
    try {
      const sql = BUSINESS_QUERIES.find((q) => q.id === "trial_to_paid")!.sql;
      const value = async (from: Date, to: Date) =>
        (await ops.query<{ value: number | null }>(bindTimeRange(sql, from, to))).rows[0]!.value;
      // The three trials that ended in the last day: one converted (paying-co).
      expect(await value(new Date(Date.now() - DAY), new Date())).toBeCloseTo(1 / 3, 10);
      // Trials ending in the next week: early-bird-co converted, still-trying-co not yet.
      expect(await value(new Date(), new Date(Date.now() + 7 * DAY))).toBeCloseTo(1 / 2, 10);
    } finally {
      await ops.end();
    }
  });

  it("refuses to start without a control plane to apply to, or with two", () => {
    const base = { BILLING_DATABASE_URL: "postgres://b@h/f", STRIPE_SECRET_KEY: "sk_test_x" };
    expect(() => parseTrialExpiryConfig(base)).toThrow(ConfigError);
    expect(() => parseTrialExpiryConfig(base)).toThrow(/KUBERNETES_API: or KUBECONFIG is required/);
    expect(() => parseTrialExpiryConfig({ ...base, KUBECONFIG: "/k", KUBERNETES_API: "in-cluster" })).toThrow(
      /unset one/,
    );
    expect(() => parseTrialExpiryConfig({ KUBERNETES_API: "in-cluster" })).toThrow(
      /BILLING_DATABASE_URL[\s\S]*STRIPE_SECRET_KEY/,
    );
  });
});
