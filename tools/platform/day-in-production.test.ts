// A day in production on the two-region local platform, steps in order as they would happen: a
// tenant on a small plan crosses 80/90/100 % of its quotes and ops receives the notices from the
// scheduled usage warnings; the API refuses the next quote (429); the customer upgrades through
// Stripe and the signed webhook moves the Tenant's plan and enforcement follows; on-call flips the
// active region to the secondary with `kubectl patch` while the tenant keeps quoting, rebuilds the
// old primary as a replica and flips back. Everything runs from the stacks' manifests.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey } from "../../app/http/auth.ts";
import type { Region, RegionFailover } from "../../operators/api/regionfailover.ts";
import { plans, tenants } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { apiClient, quoteBody } from "./api-client.ts";
import { deliver, stripeEvent } from "./billing.ts";
import { applyAs, waitFor } from "./operators.ts";
import { startPlatform, type LocalPlatform } from "./platform.ts";
import { TENANTS_NAMESPACE as TENANT_NAMESPACE } from "../../operators/api/rbac.ts";

/** The nightly usage warnings CronJob the primary stack schedules (stacks/program.ts). */
const USAGE_WARNINGS_CRONJOB = "usage-warnings";

const run = promisify(execFile);

const PLAN = "day-small";
const SLUG = "day-in-production-freight";
const INCLUDED = 10;

let platform: LocalPlatform;
let tenantId: string;
let apiKey: string;
/** A quote written on the secondary while it serves: the rebuilt replica must have it. */
let writtenOnSecondary: string;

beforeAll(async () => {
  platform = await startPlatform({ name: "day" });
}, buildTimeoutMs);
afterAll(() => platform?.stop());

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const api = (region: Region) => apiClient(platform.regions[region].apiUrl, apiKey);

/** Quotes until `count` have been accepted in all, each one answered 201. */
async function quoteUpTo(count: number, done: { n: number }): Promise<void> {
  for (; done.n < count; done.n++) {
    const response = await api("primary").post("/v1/quotes", quoteBody());
    expect(response.status, `quote ${done.n + 1}: ${JSON.stringify(response.body)}`).toBe(201);
  }
}

const noticesFor = () =>
  platform.ops
    .events("notify_ops")
    .filter((n) => n["tenantId"] === tenantId)
    .map((n) => ({ meter: n["meter"], threshold: n["threshold"] }));

/** On-call's command from the runbook (and `npm start`), run with kubectl against the failover region. */
async function kubectlFlip(to: Region): Promise<void> {
  const { failover } = platform;
  await run("kubectl", [
    "--kubeconfig",
    platform.regions[failover.region].cluster.kubeconfigPath,
    "-n",
    failover.namespace,
    "patch",
    "regionfailover",
    failover.name,
    "--type",
    "merge",
    "-p",
    JSON.stringify({ spec: { activeRegion: to } }),
  ]);
}

async function completedOn(region: Region): Promise<RegionFailover> {
  return waitFor(
    `flip to ${region} Completed`,
    async () => {
      const rf = await platform.getFailover();
      if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
        throw new Error(`flip ended ${rf.status.phase}: ${rf.status.message}`);
      return rf.status?.phase === "Completed" && rf.status.servingRegion === region ? rf : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

describe("a day in production on the local platform", () => {
  const accepted = { n: 0 };

  it("a tenant on a small plan crosses 80, 90 and 100 % and ops receives one notice per threshold", async () => {
    const admin = platform.regions.primary.admin;
    await applyAs(admin, plans, {
      kind: "Plan",
      metadata: { name: PLAN },
      spec: {
        displayName: "Day small",
        rank: 77,
        monthlyPriceCents: 1900,
        meters: [{ name: "quotes", included: INCLUDED, overageAllowed: false, hardCeiling: INCLUDED }],
        rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 1 },
      },
    });
    await applyAs(admin, tenants, {
      kind: "Tenant",
      metadata: { name: SLUG, namespace: TENANT_NAMESPACE },
      spec: { displayName: "Day in Production Freight", plan: PLAN },
    });
    const operator = platform.primaryDatabase.urls.operator;
    tenantId = await waitFor(
      "tenant provisioned with its plan's entitlements",
      async () =>
        (
          await query<{ id: string }>(
            operator,
            "SELECT t.id FROM tenants t JOIN entitlements e ON e.tenant_id = t.id WHERE t.slug = $1 AND e.meter = 'quotes' AND e.included = $2",
            [SLUG, INCLUDED],
          )
        )[0]?.id,
      { timeoutMs: 30_000 },
    );
    const key = generateApiKey("test");
    await query(
      operator,
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, $2, decode($3, 'hex'), 'day in production')",
      [tenantId, key.prefix, key.hash],
    );
    apiKey = key.key;

    // The nightly job runs between the quotes (compressed: after each threshold is crossed).
    for (const [count, threshold] of [
      [8, 80],
      [9, 90],
      [10, 100],
    ] as const) {
      await quoteUpTo(count, accepted);
      const job = await platform.runJob("primary", USAGE_WARNINGS_CRONJOB);
      expect(job.exitCode, job.output).toBe(0);
      expect(job.output).toContain(`crossed ${threshold} %`);
      await waitFor(`ops notice for ${threshold} %`, () =>
        noticesFor().some((n) => n.threshold === threshold),
      );
    }
    expect(noticesFor()).toEqual([
      { meter: "quotes", threshold: 80 },
      { meter: "quotes", threshold: 90 },
      { meter: "quotes", threshold: 100 },
    ]);
    // A second run the same night pages nobody again.
    const again = await platform.runJob("primary", USAGE_WARNINGS_CRONJOB);
    expect(again.output).toContain("0 new notice(s).");
  }, 120_000);

  it("past the ceiling the API refuses with 429 and a problem saying how to continue", async () => {
    const refused = await api("primary").post<Record<string, unknown>>("/v1/quotes", quoteBody());
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.body).toMatchObject({
      title: "Plan limit reached",
      status: 429,
      meter: "quotes",
      used: INCLUDED,
      limit: INCLUDED,
    });
    expect(String(refused.body["type"])).toMatch(/meter-limit-reached$/);
    expect(String(refused.body["upgradeUrl"])).toContain("/billing/upgrade?meter=quotes");
  });

  it("a signed Stripe upgrade moves the Tenant to the paid plan and the next quote is accepted", async () => {
    const checkout = await api("primary").post("/v1/billing/checkout-sessions", { plan: "pro" });
    expect(checkout.status, JSON.stringify(checkout.body)).toBe(201);
    const [{ stripe_customer_id: customer } = { stripe_customer_id: "" }] = await query<{
      stripe_customer_id: string;
    }>(
      platform.primaryDatabase.urls.billing,
      "SELECT stripe_customer_id FROM billing_accounts WHERE tenant_id = $1",
      [tenantId],
    );
    expect(customer).toMatch(/^cus_/);
    // The customer pays: Stripe holds the subscription and tells the active region.
    const subscription = platform.stripe!.putSubscription({
      customer,
      price: "price_pro_monthly",
      status: "active",
      metadata: { tenant_id: tenantId },
    });
    const event = stripeEvent("checkout.session.completed", {
      id: "cs_test_day_in_production",
      object: "checkout.session",
      customer,
      client_reference_id: tenantId,
      mode: "subscription",
      status: "complete",
      payment_status: "paid",
      subscription: subscription["id"],
      customer_details: { email: "ap@day-in-production.example" },
    });
    // Signed with the webhook secret the region's quote API was deployed with.
    const secretFile = platform.process("primary", "quote-api").env["STRIPE_WEBHOOK_SECRET_FILE"]!;
    const secret = readFileSync(secretFile, "utf8");
    const delivered = await deliver(platform.regions.primary.apiUrl, event, { secret });
    expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);

    const tenant = await waitFor("Tenant spec.plan pro", async () => {
      const t = await platform.regions.primary.admin.get<Tenant>(tenants, SLUG, TENANT_NAMESPACE);
      return t.spec.plan === "pro" ? t : undefined;
    });
    expect(tenant.spec.billingStatus).toBe("active");
    await waitFor(
      "quote accepted on the new plan",
      async () => (await api("primary").post("/v1/quotes", quoteBody())).status === 201,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  }, 60_000);

  it("on-call flips to the secondary with kubectl patch and the tenant keeps quoting", async () => {
    // Fast flip settings, as the controller's tests use; on-call's patch then changes only the region.
    await platform.applyFailover({
      activeRegion: "primary",
      trafficSteps: [50, 100],
      stepSeconds: 1,
      healthGate: { consecutiveHealthyChecks: 2, maxP95LatencyMs: 2000 },
    });
    await waitFor(
      "RegionFailover steady",
      async () => (await platform.getFailover()).status?.phase === "Steady",
    );
    await kubectlFlip("secondary");
    const done = await completedOn("secondary");
    expect(done.status?.trafficWeights).toEqual({ primary: 0, secondary: 100 });

    expect((await api("secondary").post("/v1/quotes", quoteBody())).status).toBe(201);
    // A client still sending to the old primary is redirected to the serving region.
    const old = await fetch(`${platform.regions.primary.apiUrl}/v1/quotes`, {
      method: "POST",
      redirect: "manual",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(quoteBody()),
    });
    expect(old.status).toBe(307);
    expect(old.headers.get("location")).toBe(`${platform.regions.secondary.apiUrl}/v1/quotes`);
    // fetch drops the Authorization header on a redirect to another origin (as it would between
    // two regions' hosts), so the client re-sends the quote to the Location with its key.
    const followed = await apiClient(platform.regions.secondary.apiUrl, apiKey).post(
      new URL(old.headers.get("location")!).pathname,
      quoteBody(),
    );
    expect(followed.status).toBe(201);
    writtenOnSecondary = String(followed.body["id"]);
  }, 120_000);

  it("on-call rebuilds the old primary as a replica, flips back, and the primary serves quotes again", async () => {
    // The serving region's database is never the one rebuilt.
    await expect(platform.rebuildReplica("secondary")).rejects.toThrow(/secondary region serves/);
    const { port, dataDir } = platform.database("primary");
    const rebuilt = await platform.rebuildReplica("primary");
    expect(rebuilt.port).toBe(port);
    // The operators were given this directory at start: a later fence must reach the rebuilt server.
    expect(rebuilt.dataDir).toBe(dataDir);
    const [{ recovering } = { recovering: false }] = await query<{ recovering: boolean }>(
      rebuilt.url(),
      "SELECT pg_is_in_recovery() AS recovering",
    );
    expect(recovering).toBe(true);
    // The primary region's processes reconnect to the rebuilt database on their own.
    await waitFor(
      "primary API ready on the rebuilt replica",
      async () => (await fetch(`${platform.regions.primary.apiUrl}/readyz`)).status === 200,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    // ... and serve reads from it, with what was written on the secondary since the flip.
    await waitFor(
      "the secondary's write readable in the primary region",
      async () => (await api("primary").get(`/v1/quotes/${writtenOnSecondary}`)).status === 200,
      { timeoutMs: 15_000, intervalMs: 250 },
    );

    await kubectlFlip("primary");
    const done = await completedOn("primary");
    expect(done.status?.trafficWeights).toEqual({ primary: 100, secondary: 0 });
    expect((await api("primary").post("/v1/quotes", quoteBody())).status).toBe(201);
    // Nothing had to be restarted by hand through the day.
    for (const region of ["primary", "secondary"] as const)
      for (const p of platform.regions[region].processes)
        expect(p.child.exitCode, `${region} ${p.deployment} exited; log ${p.logPath}`).toBeNull();
  }, 150_000);
});
