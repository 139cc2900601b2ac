// Plan features and data residency as a caller meets them: every route family refused or served by
// the features of the caller's plan, and a tenant pinned to another region refused with its address.
import type pg from "pg";
import { createPool } from "../db/pool.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";

const PEER_URL = "https://us-west-2.api.freightrate.example";
let t: TestApp;
let operator: pg.Pool;

beforeAll(async () => {
  t = await startTestApp({
    env: { REGION_NAME: "us-east-1", REGION_PEER_NAME: "us-west-2", REGION_PEER_URL: PEER_URL },
  });
  operator = createPool(t.db.urls.operator, 2);
  // A plan with meters but no features, as a Plan object without spec.features is mirrored.
  await operator.query(
    "INSERT INTO plans (id, name, rank, monthly_price_cents) VALUES ('basic', 'Basic', 0, 0)",
  );
  await operator.query(
    `INSERT INTO plan_meters (plan_id, meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling)
     SELECT 'basic', meter, period, included, overage_allowed, overage_unit_price_cents, hard_ceiling
       FROM plan_meters WHERE plan_id = 'starter'`,
  );
  await operator.query(
    `INSERT INTO plan_rate_limits (plan_id, requests_per_second, burst, bulk_job_concurrency) VALUES ('basic', 5, 10, 1)`,
  );
});
afterAll(async () => {
  await operator?.end();
  await t?.stop();
});

/** One request per route family, each with the feature that gates it. */
const FAMILIES = [
  { feature: "spotQuotes", call: (c: Client) => c.post("/v1/quotes", quoteBody()) },
  { feature: "spotQuotes", call: (c: Client) => c.get("/v1/quotes/00000000-0000-4000-8000-000000000000") },
  { feature: "directorySearch", call: (c: Client) => c.get("/v1/directory/carriers?limit=1") },
  {
    feature: "invites",
    call: (c: Client) =>
      c.post("/v1/directory/invites", { carrierId: "00000000-0000-4000-8000-000000000000", email: "a@b.co" }),
  },
  { feature: "bulkRating", call: (c: Client) => c.get("/v1/bulk-jobs") },
  { feature: "contracts", call: (c: Client) => c.get("/v1/contract-rates") },
] as const;
type Client = ReturnType<typeof apiClient>;

async function tenantOn(planId: string) {
  const tenant = await provisionTestTenant(t.db, planId);
  return { ...tenant, client: apiClient(t.url, tenant.apiKey) };
}

describe("plan features", () => {
  it.each([
    [
      "basic",
      [],
      {
        spotQuotes: "starter",
        directorySearch: "starter",
        invites: "pro",
        bulkRating: "pro",
        contracts: "pro",
      },
    ],
    ["starter", ["spotQuotes", "directorySearch"], { invites: "pro", bulkRating: "pro", contracts: "pro" }],
    ["pro", ["spotQuotes", "directorySearch", "invites", "bulkRating", "contracts"], {}],
    ["enterprise", ["spotQuotes", "directorySearch", "invites", "bulkRating", "contracts"], {}],
  ] as const)(
    "on %s: serves %j, refuses the rest naming the cheapest plan with it",
    async (planId, served, refused) => {
      const { client } = await tenantOn(planId);
      for (const family of FAMILIES) {
        const res = await family.call(client);
        const requiredPlan = (refused as Record<string, string>)[family.feature];
        if ((served as readonly string[]).includes(family.feature)) {
          expect(res.status, `${planId} ${family.feature}`).not.toBe(403);
          continue;
        }
        expect(res.status, `${planId} ${family.feature}`).toBe(403);
        expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
        expect(res.body).toMatchObject({ feature: family.feature, plan: planId, requiredPlan });
        expect((res.body as Record<string, string>).upgradeUrl).toMatch(
          new RegExp(`^http.*/billing/upgrade\\?plan=${requiredPlan}$`),
        );
        expect((res.body as Record<string, string>).detail).toMatch(/is not included in the .* plan/);
      }
    },
  );

  it("follows the plan's features as they change, and counts nothing for a refused quote", async () => {
    const { client, tenantId } = await tenantOn("basic");
    const usedQuotes = async () =>
      (
        await operator.query<{ used: number }>(
          "SELECT coalesce(sum(used), 0)::int AS used FROM usage_counters WHERE tenant_id = $1 AND meter = 'quotes'",
          [tenantId],
        )
      ).rows[0]!.used;
    expect((await client.post("/v1/quotes", quoteBody())).status).toBe(403);
    expect(await usedQuotes()).toBe(0);
    await operator.query("INSERT INTO plan_features (plan_id, feature) VALUES ('basic', 'spotQuotes')");
    try {
      expect((await client.post("/v1/quotes", quoteBody())).status).toBe(201);
      expect(await usedQuotes()).toBe(1);
    } finally {
      await operator.query("DELETE FROM plan_features WHERE plan_id = 'basic'");
    }
  });
});

describe("data residency", () => {
  async function pinned(region: string | null) {
    const tenant = await tenantOn("enterprise");
    await operator.query("UPDATE tenants SET data_residency_region = $2 WHERE id = $1", [
      tenant.tenantId,
      region,
    ]);
    return tenant;
  }

  it("refuses a tenant pinned to the other region on every route, naming its region and base URL", async () => {
    const { client, tenantId, slug } = await pinned("us-west-2");
    for (const res of [
      await client.post<Record<string, any>>("/v1/quotes", quoteBody()),
      await client.get<Record<string, any>>("/v1/usage"),
      await client.get<Record<string, any>>("/v1/contract-rates"),
    ]) {
      expect(res.status).toBe(421);
      expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({
        type: expect.stringMatching(/\/wrong-region$/),
        region: "us-west-2",
        baseUrl: PEER_URL,
      });
      expect(res.body.detail).toContain(`${slug} is pinned to us-west-2`);
      expect(res.body.detail).toContain(`Send its requests to ${PEER_URL}`);
    }
    const { rows } = await operator.query(
      "SELECT count(*)::int AS n FROM usage_counters WHERE tenant_id = $1",
      [tenantId],
    );
    expect(rows[0].n).toBe(0);
  });

  it("serves a tenant pinned here, and refuses one pinned to a region this deployment does not run", async () => {
    const here = await pinned("us-east-1");
    expect((await here.client.post("/v1/quotes", quoteBody())).status).toBe(201);
    const nowhere = await pinned("eu-central-1");
    const res = await nowhere.client.get<Record<string, any>>("/v1/usage");
    expect(res.status).toBe(421);
    expect(res.body.region).toBe("eu-central-1");
    expect(res.body.baseUrl).toBeUndefined();
    expect(res.body.detail).toMatch(/no API in eu-central-1/);
  });
});
