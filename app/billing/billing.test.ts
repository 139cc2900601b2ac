// Billing end to end: the real app (BILLING=on) over PostgreSQL, the real stripe-node client against the
// local Stripe server, a real local control plane with our CRDs, and the tenant controller running in
// this process. Webhooks are signed with stripe-node's test header helper; what the tests check is what
// a customer and ops see: the Checkout URL, what the API admits, the Tenant resource, notices, Stripe's
// meter totals.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { billingRole, billingRoleBinding } from "../../operators/api/rbac.ts";
import { plans as plansRef, tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { addTenantController } from "../../operators/controllers/tenant/controller.ts";
import { builtin, KubeClient } from "../../operators/runtime/kube.ts";
import { Manager } from "../../operators/runtime/manager.ts";
import {
  applyAs,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
} from "../../tools/platform/operators.ts";
import { createPool } from "../db/pool.ts";
import { generateApiKey } from "../http/auth.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { BILLING_FIELD_MANAGER, KubeTenantPlanWriter, TenantResourceMissing } from "./tenant-resource.ts";
import { deliver, startBillingApp, stripeEvent, type BillingTestApp } from "../../tools/platform/billing.ts";

const run = promisify(execFile);

let platform: OperatorPlatform;
let manager: Manager;
let operatorDb: pg.Pool;
/** Billing's tables are read in assertions as the read-only ops role. */
let opsDb: pg.Pool;
let billingApp: BillingTestApp;

const meters = (quotes: { included: number; hardCeiling: number; overageUnitPriceCents?: number }) => [
  {
    name: "quotes",
    included: quotes.included,
    hardCeiling: quotes.hardCeiling,
    overageAllowed: quotes.overageUnitPriceCents !== undefined,
    ...(quotes.overageUnitPriceCents !== undefined
      ? { overageUnitPriceCents: quotes.overageUnitPriceCents }
      : {}),
  },
  { name: "bulk_jobs", included: 2, overageAllowed: false, hardCeiling: 2 },
];

const PLANS = [
  { name: "starter", rank: 1, price: 9_900, quotes: { included: 3, hardCeiling: 3 } },
  { name: "pro", rank: 2, price: 49_900, quotes: { included: 5, hardCeiling: 40, overageUnitPriceCents: 2 } },
  { name: "enterprise", rank: 3, price: 249_900, quotes: { included: 100, hardCeiling: 200 } },
];

interface TestTenant {
  slug: string;
  id: string;
  key: string;
  api: ReturnType<typeof apiClient>;
}

const getTenant = (slug: string) => platform.admin.get<Tenant>(tenantsRef, slug, TENANT_NAMESPACE);

async function createTenant(slug: string, plan = "starter"): Promise<TestTenant> {
  await applyAs(platform.admin, tenantsRef, {
    kind: "Tenant",
    metadata: { name: slug, namespace: TENANT_NAMESPACE },
    spec: { displayName: slug, plan },
  });
  const id = await waitFor(`tenant row ${slug}`, async () => {
    const { rows } = await operatorDb.query<{ id: string }>(
      "SELECT t.id FROM tenants t JOIN entitlements e ON e.tenant_id = t.id WHERE t.slug = $1 LIMIT 1",
      [slug],
    );
    return rows[0]?.id;
  });
  const key = generateApiKey("test");
  await operatorDb.query(
    "INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, $2, decode($3, 'hex'), 'billing test')",
    [id, key.prefix, key.hash],
  );
  return { slug, id, key: key.key, api: apiClient(billingApp.url, key.key) };
}

/** Starts a checkout through the API, the way the customer's upgrade button does; returns the customer. */
async function checkout(tenant: TestTenant, plan: string): Promise<string> {
  const response = await tenant.api.post("/v1/billing/checkout-sessions", { plan });
  expect(response.status).toBe(201);
  return checkoutCustomer(tenant.id);
}

/** Waits until the tenant controller enforces `plan` for the tenant (tenant row and entitlements). */
async function enforced(tenant: TestTenant, plan: string): Promise<void> {
  await waitFor(`${tenant.slug} enforced on ${plan}`, async () => {
    const { rows } = await operatorDb.query<{ plan_id: string }>(
      "SELECT plan_id FROM tenants WHERE id = $1",
      [tenant.id],
    );
    return rows[0]?.plan_id === plan;
  });
}

/** The customer pays: Stripe now has the subscription, and tells us with checkout.session.completed. */
async function completeCheckout(tenant: TestTenant, customer: string, price: string, status = "active") {
  const subscription = billingApp.stripe.putSubscription({
    customer,
    price,
    status,
    metadata: { tenant_id: tenant.id },
  });
  const event = stripeEvent("checkout.session.completed", {
    id: `cs_test_${tenant.slug}`,
    object: "checkout.session",
    customer,
    client_reference_id: tenant.id,
    mode: "subscription",
    status: "complete",
    payment_status: "paid",
    subscription: subscription.id,
  });
  return { subscription, event, response: await deliver(billingApp.url, event) };
}

function subscriptionEvent(type: string, subscription: Record<string, unknown>, created?: number) {
  return stripeEvent(type, subscription, { created });
}

function invoiceEvent(
  type: "invoice.paid" | "invoice.payment_failed",
  input: { invoice: string; customer: string; subscription: string; attempt: number },
  options: { id?: string } = {},
) {
  return stripeEvent(
    type,
    {
      id: input.invoice,
      object: "invoice",
      customer: input.customer,
      attempt_count: input.attempt,
      amount_due: 49_900,
      currency: "usd",
      next_payment_attempt:
        type === "invoice.payment_failed" ? Math.floor(Date.now() / 1000) + 3 * 86_400 : null,
      hosted_invoice_url: `https://invoice.stripe.com/i/${input.invoice}`,
      parent: { type: "subscription_details", subscription_details: { subscription: input.subscription } },
    },
    options,
  );
}

async function eventRows(id: string): Promise<number> {
  const { rows } = await opsDb.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM stripe_events WHERE id = $1",
    [id],
  );
  return rows[0]!.n;
}

async function tasks(
  tenantId: string,
  kind: string,
): Promise<Array<{ payload: Record<string, unknown>; dedupe_key: string }>> {
  const { rows } = await operatorDb.query(
    "SELECT payload, dedupe_key FROM agent_tasks WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at",
    [tenantId, kind],
  );
  return rows as Array<{ payload: Record<string, unknown>; dedupe_key: string }>;
}

const quoteStatus = async (tenant: TestTenant) => (await tenant.api.post("/v1/quotes", quoteBody())).status;

beforeAll(async () => {
  platform = await startOperatorPlatform("billing");
  operatorDb = createPool(platform.db.urls.operator, 4);
  opsDb = createPool(platform.db.urls.ops, 2);
  for (const plan of PLANS) {
    await applyAs(platform.admin, plansRef, {
      kind: "Plan",
      metadata: { name: plan.name },
      spec: {
        displayName: plan.name,
        rank: plan.rank,
        monthlyPriceCents: plan.price,
        meters: meters(plan.quotes),
        rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 1 },
      },
    });
  }
  manager = new Manager({
    client: new KubeClient(platform.cluster.kubeConfig, { userAgent: "billing-tests" }),
    log: pino({ level: "silent" }),
    identity: "billing-tests",
  });
  addTenantController(manager, { pool: operatorDb, usageRefreshMs: 1000 });
  await manager.start();
  billingApp = await startBillingApp({
    db: platform.db,
    env: { KUBECONFIG: platform.cluster.kubeconfigPath, BILLING_TENANT_NAMESPACE: TENANT_NAMESPACE },
  });
}, 1_800_000);

afterAll(async () => {
  await billingApp?.stop();
  await manager?.stop();
  await operatorDb?.end();
  await opsDb?.end();
  await platform?.stop();
});

describe("billing end to end", () => {
  it("sells an upgrade through Stripe Checkout, and the paid webhook lifts the hard stop within seconds", async () => {
    const acme = await createTenant("acme");
    for (let i = 0; i < 3; i++) expect(await quoteStatus(acme)).toBe(201);
    const stopped = await acme.api.post<{ upgradeUrl: string }>("/v1/quotes", quoteBody());
    expect(stopped.status).toBe(429);

    // The hard stop's upgrade link, followed with the API key, lands on Stripe Checkout for the next plan up.
    const upgradeUrl = new URL(stopped.body.upgradeUrl);
    expect(upgradeUrl.pathname).toBe("/billing/upgrade");
    const landing = await fetch(`${billingApp.url}${upgradeUrl.pathname}${upgradeUrl.search}`, {
      headers: { authorization: `Bearer ${acme.key}` },
      redirect: "manual",
    });
    expect(landing.status).toBe(303);
    // Stripe's hosted Checkout page for the session: here the stand-in's (tools/fakes/stripe-server.ts).
    expect(landing.headers.get("location")).toMatch(new RegExp(`^${billingApp.stripe.url}/c/pay/cs_test_`));

    const created = await acme.api.post<{ url: string; plan: string }>("/v1/billing/checkout-sessions", {
      plan: "pro",
    });
    expect(created.status).toBe(201);
    expect(created.body.url).toMatch(new RegExp(`^${billingApp.stripe.url}/c/pay/cs_test_`));

    // What went over the wire: one customer (idempotent per tenant), form-encoded, pinned API version.
    const customers = billingApp.stripe.requestsTo("POST", "/v1/customers");
    expect(customers).toHaveLength(1);
    expect(customers[0]!.headers["idempotency-key"]).toBe(`customer:${acme.id}`);
    expect(customers[0]!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(customers[0]!.headers["stripe-version"]).toBe("2026-10-28.endive");
    expect(customers[0]!.form).toMatchObject({ metadata: { tenant_id: acme.id, tenant_slug: "acme" } });
    const session = billingApp.stripe.requestsTo("POST", "/v1/checkout/sessions").at(-1)!;
    expect(session.form).toMatchObject({
      mode: "subscription",
      client_reference_id: acme.id,
      line_items: [{ price: "price_pro_monthly", quantity: "1" }],
      subscription_data: { metadata: { tenant_id: acme.id } },
    });
    expect(session.headers["idempotency-key"]).toBeTruthy();

    const customer = await checkoutCustomer(acme.id);
    const started = performance.now();
    const { response } = await completeCheckout(acme, customer, "price_pro_monthly");
    expect(response).toMatchObject({ status: 200, body: { received: true, outcome: "applied" } });
    await waitFor("pro limits enforced", async () => (await quoteStatus(acme)) === 201, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const latencyMs = performance.now() - started;
    console.log(`webhook -> enforcement: ${latencyMs.toFixed(0)} ms`);
    expect(latencyMs).toBeLessThan(10_000);

    const tenant = await getTenant("acme");
    expect(tenant.spec).toMatchObject({ plan: "pro", billingStatus: "active" });
    const managers = (tenant.metadata as { managedFields?: Array<{ manager: string; fieldsV1?: unknown }> })
      .managedFields;
    const billingFields = managers?.find((m) => m.manager === BILLING_FIELD_MANAGER);
    expect(JSON.stringify(billingFields?.fieldsV1)).toContain("f:plan");
    // A second checkout while subscribed is refused: plan changes go through the portal.
    const again = await acme.api.post("/v1/billing/checkout-sessions", { plan: "enterprise" });
    expect(again.status).toBe(409);
    const portal = await acme.api.post<{ url: string }>("/v1/billing/portal-sessions", {});
    expect(portal.status).toBe(201);
    expect(portal.body.url).toMatch(new RegExp(`^${billingApp.stripe.url}/p/session/bps_`));
  });

  it("refuses a bad signature, a tampered body and a stale timestamp with 400, changing nothing", async () => {
    const bolt = await createTenant("bolt");
    const customer = await checkout(bolt, "pro");
    const subscription = billingApp.stripe.putSubscription({
      customer,
      price: "price_pro_monthly",
      status: "active",
    });
    const event = subscriptionEvent("customer.subscription.created", subscription);
    const body = JSON.stringify(event);

    const tampered = await deliver(billingApp.url, event, { body: body.replace("active", "unpaid") });
    const wrongSecret = await deliver(billingApp.url, event, { secret: "whsec_someone_else" });
    const stale = await deliver(billingApp.url, event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    const unsigned = await fetch(`${billingApp.url}/webhooks/stripe`, { method: "POST", body });
    for (const refused of [tampered, wrongSecret, stale]) {
      expect(refused.status).toBe(400);
      expect(refused.body.type).toMatch(/bad-signature$/);
    }
    expect(unsigned.status).toBe(400);
    const metrics = await (await fetch(`${billingApp.url}/metrics`)).text();
    const refusedCount =
      /^billing_webhook_events_total\{event_type="unverified",outcome="bad-signature"\} (\d+)$/m.exec(
        metrics,
      );
    expect(Number(refusedCount?.[1])).toBeGreaterThanOrEqual(4);
    expect(await eventRows(String(event.id))).toBe(0);
    expect((await getTenant("bolt")).spec.plan).toBe("starter");

    // The same event, correctly signed, is applied once; its replay is a no-op.
    expect((await deliver(billingApp.url, event)).body.outcome).toBe("applied");
    expect((await deliver(billingApp.url, event)).body.outcome).toBe("replayed");
    expect(await eventRows(String(event.id))).toBe(1);
    expect((await getTenant("bolt")).spec.plan).toBe("pro");
  });

  it("acknowledges unexpected and malformed events without effects, and keeps the JSON API's parsing", async () => {
    const ignored = await deliver(
      billingApp.url,
      stripeEvent("charge.succeeded", { id: "ch_1", object: "charge" }),
    );
    expect(ignored).toMatchObject({ status: 200, body: { outcome: "ignored" } });
    const notJson = await deliver(billingApp.url, "this is not an event");
    expect(notJson).toMatchObject({ status: 200, body: { outcome: "malformed" } });
    const noObject = await deliver(billingApp.url, {
      id: "evt_no_object",
      object: "event",
      type: "invoice.paid",
    });
    expect(noObject).toMatchObject({ status: 200, body: { outcome: "malformed" } });
    const unknownCustomer = await deliver(
      billingApp.url,
      subscriptionEvent("customer.subscription.updated", {
        id: "sub_x",
        object: "subscription",
        customer: "cus_nobody",
      }),
    );
    expect(unknownCustomer).toMatchObject({ status: 200, body: { outcome: "unknown-customer" } });
    // The raw-body parser is the webhook's alone: bad JSON to the API is still a 400 problem.
    const hale = await createTenant("hale");
    const api = await hale.api.call("POST", "/v1/quotes", "{", { "content-type": "application/json" });
    expect(api.status).toBe(400);
    expect(api.body.type).toMatch(/malformed-json$/);

    // Billing's own bad input: a plan not on sale, and the portal before any subscription.
    const unknownPlan = await hale.api.post<{ errors: Array<{ field: string; message: string }> }>(
      "/v1/billing/checkout-sessions",
      { plan: "platinum" },
    );
    expect(unknownPlan.status).toBe(422);
    expect(unknownPlan.body.errors).toEqual([
      { field: "plan", message: "must be one of starter, pro, enterprise" },
    ]);
    const noAccount = await hale.api.post("/v1/billing/portal-sessions", {});
    expect(noAccount.status).toBe(409);
    expect(noAccount.body.detail).toMatch(/Start with POST \/v1\/billing\/checkout-sessions/);
  });

  it("applies the newest state whatever the order, and a duplicate delivered concurrently acts once", async () => {
    const cargo = await createTenant("cargo");
    const customer = await checkout(cargo, "pro");
    const { subscription } = await completeCheckout(cargo, customer, "price_pro_monthly");
    await waitFor("cargo on pro", async () => (await getTenant("cargo")).spec.plan === "pro");

    // Payment fails (past_due), then the retry succeeds (active). Stripe's deliveries arrive reversed.
    const t0 = Math.floor(Date.now() / 1000);
    const pastDueSnapshot = { ...subscription, status: "past_due" };
    billingApp.stripe.putSubscription({
      id: String(subscription.id),
      customer,
      price: "price_pro_monthly",
      status: "active",
    });
    const paid = invoiceEvent("invoice.paid", {
      invoice: "in_cargo_1",
      customer,
      subscription: String(subscription.id),
      attempt: 2,
    });
    const olderUpdate = subscriptionEvent("customer.subscription.updated", pastDueSnapshot, t0 - 60);
    expect((await deliver(billingApp.url, paid)).body.outcome).toBe("applied");
    expect((await deliver(billingApp.url, olderUpdate)).body.outcome).toBe("applied");
    expect((await getTenant("cargo")).spec).toMatchObject({ plan: "pro", billingStatus: "active" });

    // Five concurrent deliveries of one payment_failed event: one notice, one event row, all acknowledged.
    billingApp.stripe.putSubscription({
      id: String(subscription.id),
      customer,
      price: "price_pro_monthly",
      status: "past_due",
    });
    const failed = invoiceEvent("invoice.payment_failed", {
      invoice: "in_cargo_2",
      customer,
      subscription: String(subscription.id),
      attempt: 1,
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => deliver(billingApp.url, failed)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.filter((r) => r.body.outcome === "applied")).toHaveLength(1);
    expect(results.filter((r) => r.body.outcome === "replayed")).toHaveLength(4);
    expect(await eventRows(String(failed.id))).toBe(1);
    expect(await tasks(cargo.id, "billing_notice")).toHaveLength(1);
  });

  it("dunning: past_due keeps the plan with a banner and one notice per attempt; unpaid downgrades", async () => {
    const dray = await createTenant("dray");
    const customer = await checkout(dray, "pro");
    const { subscription } = await completeCheckout(dray, customer, "price_pro_monthly");
    const subId = String(subscription.id);
    await waitFor("dray on pro", async () => (await getTenant("dray")).spec.plan === "pro");

    billingApp.stripe.putSubscription({
      id: subId,
      customer,
      price: "price_pro_monthly",
      status: "past_due",
    });
    const attempt = (n: number) =>
      invoiceEvent("invoice.payment_failed", {
        invoice: "in_dray",
        customer,
        subscription: subId,
        attempt: n,
      });
    expect((await deliver(billingApp.url, attempt(1))).body.outcome).toBe("applied");
    expect((await deliver(billingApp.url, attempt(2))).body.outcome).toBe("applied");
    // Stripe may tell us about the same attempt twice (two event ids): still one notice for it.
    await deliver(billingApp.url, attempt(2));
    const notices = await tasks(dray.id, "billing_notice");
    expect(notices.map((n) => n.dedupe_key)).toEqual([
      "billing-dunning:in_dray:1",
      "billing-dunning:in_dray:2",
    ]);
    expect(notices[0]!.payload).toMatchObject({ notice: "payment_failed", invoice: "in_dray", attempt: 1 });

    expect((await getTenant("dray")).spec).toMatchObject({ plan: "pro", billingStatus: "past_due" });
    const banner = await waitFor("past_due banner", async () => {
      const response = await dray.api.post("/v1/quotes", quoteBody());
      return response.headers.get("billing-status") === "past_due" ? response : undefined;
    });
    expect(banner.status).toBe(201); // access kept during the grace period
    const status = await dray.api.get<{ graceEndsAt: string; banner: string }>("/v1/billing/status");
    expect(new Date(status.body.graceEndsAt).getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(status.body.banner).toMatch(/payment failed/i);

    // Stripe gives up: unpaid. The tenant falls back to starter's limits (3 quotes, already used).
    const unpaid = billingApp.stripe.putSubscription({
      id: subId,
      customer,
      price: "price_pro_monthly",
      status: "unpaid",
    });
    expect(
      (await deliver(billingApp.url, subscriptionEvent("customer.subscription.updated", unpaid))).body
        .outcome,
    ).toBe("applied");
    expect((await getTenant("dray")).spec).toMatchObject({ plan: "starter", billingStatus: "unpaid" });
    await waitFor("starter limits enforced", async () => (await quoteStatus(dray)) === 429);
  });

  it("downgrades a past-due tenant when the grace period runs out, even if Stripe is still retrying", async () => {
    const ember = await createTenant("ember");
    const customer = await checkout(ember, "pro");
    const { subscription } = await completeCheckout(ember, customer, "price_pro_monthly");
    billingApp.stripe.putSubscription({
      id: String(subscription.id),
      customer,
      price: "price_pro_monthly",
      status: "past_due",
    });
    await deliver(
      billingApp.url,
      invoiceEvent("invoice.payment_failed", {
        invoice: "in_ember",
        customer,
        subscription: String(subscription.id),
        attempt: 1,
      }),
    );
    expect((await getTenant("ember")).spec.plan).toBe("pro");
    expect((await billingApp.billing.tick()).downgraded).toBe(0);
    // The grace period is 7 days: move its start back instead of waiting.
    await billingDb((db) =>
      db.query(
        "UPDATE billing_accounts SET past_due_since = now() - interval '8 days', grace_ends_at = now() - interval '1 day' WHERE tenant_id = $1",
        [ember.id],
      ),
    );
    expect((await billingApp.billing.tick()).downgraded).toBe(1);
    expect((await getTenant("ember")).spec).toMatchObject({ plan: "starter", billingStatus: "past_due" });
  });

  it("an unknown price is an alert task, never a plan change; trial ending is a notice", async () => {
    const fern = await createTenant("fern");
    const customer = await checkout(fern, "pro");
    const { subscription, response } = await completeCheckout(fern, customer, "price_mystery_2027");
    expect(response.body.outcome).toBe("unknown-price");
    expect((await getTenant("fern")).spec.plan).toBe("starter");
    const alerts = await tasks(fern.id, "billing_alert");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.payload).toMatchObject({ alert: "unknown_price", price: "price_mystery_2027" });

    const trial = billingApp.stripe.putSubscription({
      id: String(subscription.id),
      customer,
      price: "price_pro_monthly",
      status: "trialing",
    });
    const trialEnding = subscriptionEvent("customer.subscription.trial_will_end", trial);
    expect((await deliver(billingApp.url, trialEnding)).body.outcome).toBe("applied");
    expect((await getTenant("fern")).spec).toMatchObject({ plan: "pro", billingStatus: "trialing" });
    expect((await tasks(fern.id, "billing_notice")).map((t) => t.payload.notice)).toEqual(["trial_will_end"]);

    const summary = stripeEvent("entitlements.active_entitlement_summary.updated", {
      object: "entitlements.active_entitlement_summary",
      customer,
      entitlements: { object: "list", data: [{ id: "ent_1", lookup_key: "bulk-rating", feature: "feat_1" }] },
    });
    expect((await deliver(billingApp.url, summary)).body.outcome).toBe("recorded");
    const status = await fern.api.get<{ features: string[] }>("/v1/billing/status");
    expect(status.body.features).toEqual(["bulk-rating"]);

    // The customer cancels: the subscription is deleted and the tenant is back on the free plan.
    const canceled = billingApp.stripe.putSubscription({
      id: String(subscription.id),
      customer,
      price: "price_pro_monthly",
      status: "canceled",
    });
    expect(
      (await deliver(billingApp.url, stripeEvent("customer.subscription.deleted", canceled))).body.outcome,
    ).toBe("applied");
    expect((await getTenant("fern")).spec).toMatchObject({ plan: "starter", billingStatus: "canceled" });
  });

  it("reports overage to Stripe meters exactly once through the outbox, across failures, and reconciles", async () => {
    const gale = await createTenant("gale");
    const customer = await checkout(gale, "pro");
    await completeCheckout(gale, customer, "price_pro_monthly");
    await enforced(gale, "pro");
    for (let i = 0; i < 8; i++) expect(await quoteStatus(gale)).toBe(201); // 8 used, 5 included

    // Stripe is down for the first send (stripe-node's own retries included): the range stays pending.
    billingApp.stripe.failNext("/v1/billing/meter_events", 3, 503);
    const first = await billingApp.billing.tick();
    expect(first).toMatchObject({ queued: 1, sent: 0, retrying: 1 });
    expect(await billingApp.billing.tick()).toMatchObject({ queued: 0, sent: 0 }); // backing off
    await billingDb((db) =>
      db.query("UPDATE overage_outbox SET next_attempt_at = now() WHERE tenant_id = $1", [gale.id]),
    );
    expect(await billingApp.billing.tick()).toMatchObject({ queued: 0, sent: 1 });

    const month = new Date().toISOString().slice(0, 8) + "01";
    const events = billingApp.stripe.meterEvents.filter((e) => e.payload.stripe_customer_id === customer);
    expect(events).toEqual([
      expect.objectContaining({
        event_name: "freight_quotes_overage",
        identifier: `${gale.id}:quotes:${month}:0-3`,
        payload: { stripe_customer_id: customer, value: "3" },
      }),
    ]);
    const sent = billingApp.stripe
      .requestsTo("POST", "/v1/billing/meter_events")
      .filter((r) => (r.form.payload as Record<string, string>).stripe_customer_id === customer);
    // Every attempt carried the same identifier and Idempotency-Key, and the usage's own timestamp.
    expect(new Set(sent.map((r) => r.headers["idempotency-key"]))).toEqual(
      new Set([`meter-event:${gale.id}:quotes:${month}:0-3`]),
    );
    expect(Math.abs(Number(sent[0]!.form.timestamp) - Date.now() / 1000)).toBeLessThan(120);

    // More usage reports only the new units; a resend of a range Stripe already has is dropped by Stripe.
    for (let i = 0; i < 2; i++) await quoteStatus(gale);
    expect(await billingApp.billing.tick()).toMatchObject({ queued: 1, sent: 1 });
    await billingDb((db) =>
      db.query("UPDATE overage_outbox SET status = 'pending' WHERE tenant_id = $1 AND from_units = 0", [
        gale.id,
      ]),
    );
    expect(await billingApp.billing.tick()).toMatchObject({ queued: 0, sent: 1 });
    const total = billingApp.stripe.meterEvents
      .filter((e) => e.payload.stripe_customer_id === customer)
      .reduce((sum, e) => sum + Number(e.payload.value), 0);
    expect(total).toBe(5);

    const reconcile = await reconcileCli();
    expect(reconcile.code).toBe(0);
    expect(reconcile.output).toMatch(/gale\s+quotes\s+5\s+5\s+0\s+5\s+ok/);

    // Stripe counts something we did not send: the reconciliation shows the difference and fails.
    await billingApp.billing.stripe.billing.meterEvents.create({
      event_name: "freight_quotes_overage",
      identifier: "manual-adjustment-1",
      payload: { stripe_customer_id: customer, value: "2" },
    });
    const drift = await reconcileCli();
    expect(drift.code).toBe(1);
    expect(drift.output).toMatch(/gale\s+quotes\s+5\s+5\s+0\s+7\s+DIFF -2/);
  });

  it("needs only get and patch on Tenants in their namespace, and cannot create one", async () => {
    await createTenant("iris");
    const serviceAccount = { namespace: "freight-apps", name: "freight-app" };
    await platform.admin.apply(
      builtin.namespaces,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: serviceAccount.namespace } },
      { fieldManager: "platform-tests" },
    );
    const credentials = await platform.cluster.serviceAccountKubeconfig(
      serviceAccount.namespace,
      serviceAccount.name,
    );
    // The Role exactly as generated into operators/deploy/rbac.yaml, bound the way the stacks bind it.
    for (const object of [billingRole(), billingRoleBinding(serviceAccount)]) {
      const plural = object.kind === "Role" ? "roles" : "rolebindings";
      await platform.admin.apply(
        { group: "rbac.authorization.k8s.io", version: "v1", plural, kind: object.kind, namespaced: true },
        object,
        { fieldManager: "platform-tests" },
      );
    }
    const client = new KubeClient(credentials.kubeConfig, { userAgent: "billing-rbac-test" });
    const writer = new KubeTenantPlanWriter(client, TENANT_NAMESPACE);
    try {
      await waitFor("the Role takes effect", async () => {
        await writer.apply("iris", { plan: "pro", billingStatus: "active" });
        return true;
      });
      expect((await getTenant("iris")).spec).toMatchObject({ plan: "pro", billingStatus: "active" });
      await expect(writer.apply("nobody", { plan: "pro", billingStatus: "active" })).rejects.toBeInstanceOf(
        TenantResourceMissing,
      );
      // Even straight past the existence check, an apply that would create a Tenant is refused.
      const created = client.apply(
        tenantsRef,
        {
          apiVersion: "platform.freight.dev/v1alpha1",
          kind: "Tenant",
          metadata: { name: "sneaky", namespace: TENANT_NAMESPACE },
          spec: { plan: "pro" },
        } as Tenant,
        { fieldManager: BILLING_FIELD_MANAGER },
      );
      await expect(created).rejects.toMatchObject({ status: 403 });
      await expect(client.delete(tenantsRef, "iris", TENANT_NAMESPACE)).rejects.toMatchObject({
        status: 403,
      });
    } finally {
      client.close();
    }
  });
});

async function checkoutCustomer(tenantId: string): Promise<string> {
  const { rows } = await opsDb.query<{ stripe_customer_id: string }>(
    "SELECT stripe_customer_id FROM billing_accounts WHERE tenant_id = $1",
    [tenantId],
  );
  return rows[0]!.stripe_customer_id;
}

async function billingDb<T>(work: (db: pg.Pool) => Promise<T>): Promise<T> {
  const pool = createPool(platform.db.urls.billing, 1);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

async function reconcileCli(): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["app/billing/reconcile.ts"], {
      env: { ...process.env, ...billingApp.env },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}
