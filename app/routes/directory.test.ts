import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient } from "../../tools/platform/api-client.ts";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

async function freshTenant(planId = "pro", invites?: { included: number; hardCeiling: number }) {
  const tenant = await provisionTestTenant(
    t.db,
    planId,
    invites && { meter: "directory_invites", ...invites },
  );
  return apiClient(t.url, tenant.apiKey);
}

async function invitesUsed(client: ReturnType<typeof apiClient>): Promise<number> {
  const usage = await client.get<Record<string, any>>("/v1/usage");
  return usage.body.meters.find((m: { meter: string }) => m.meter === "directory_invites").used;
}

describe("carrier directory", () => {
  it("searches by name prefix, state and equipment", async () => {
    const client = apiClient(t.url, t.apiKeys["globex-freight"]);
    const all = await client.get<Record<string, any>>("/v1/directory/carriers?limit=100");
    expect(all.status).toBe(200);
    expect(all.body.carriers.length).toBeGreaterThan(20);
    const first = all.body.carriers[0];
    const byName = await client.get<Record<string, any>>(
      `/v1/directory/carriers?q=${encodeURIComponent(first.name.slice(0, 4))}`,
    );
    expect(
      byName.body.carriers.every((c: { name: string }) =>
        c.name.toLowerCase().startsWith(first.name.slice(0, 4).toLowerCase()),
      ),
    ).toBe(true);
    const reefers = await client.get<Record<string, any>>(
      "/v1/directory/carriers?equipment=reefer&limit=100",
    );
    expect(reefers.body.carriers.length).toBeGreaterThan(0);
    expect(reefers.body.carriers.every((c: { equipment: string[] }) => c.equipment.includes("reefer"))).toBe(
      true,
    );
    const texas = await client.get<Record<string, any>>("/v1/directory/carriers?state=tx&limit=100");
    expect(texas.body.carriers.every((c: { homeState: string }) => c.homeState === "TX")).toBe(true);
    const wildcard = await client.get<Record<string, any>>("/v1/directory/carriers?q=%25");
    expect(wildcard.body.carriers).toEqual([]);
  });

  it("rejects bad search parameters with field errors", async () => {
    const client = apiClient(t.url, t.apiKeys["globex-freight"]);
    const res = await client.get<Record<string, any>>(
      "/v1/directory/carriers?limit=1000&state=Texas&color=red",
    );
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body.errors)).toMatch(/limit/);
    expect(JSON.stringify(res.body.errors)).toMatch(/state/);
    expect(JSON.stringify(res.body.errors)).toMatch(/unknown field 'color'/);
  });

  it("meters invites, refuses a duplicate without counting it, and records onboarding", async () => {
    const client = await freshTenant();
    const carriers = (await client.get<Record<string, any>>("/v1/directory/carriers?limit=30")).body.carriers;
    const invite = await client.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: carriers[0].id,
      email: "dispatch@example.com",
    });
    expect(invite.status).toBe(201);
    expect(invite.body.status).toBe("sent");
    expect(await invitesUsed(client)).toBe(1);
    const duplicate = await client.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: carriers[0].id,
      email: "dispatch@example.com",
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.inviteId).toBe(invite.body.id);
    expect(await invitesUsed(client)).toBe(1);
    const accepted = await client.post<Record<string, any>>(`/v1/directory/invites/${invite.body.id}/accept`);
    expect(accepted.status).toBe(200);
    expect(accepted.body.status).toBe("accepted");
    const again = await client.post<Record<string, any>>(`/v1/directory/invites/${invite.body.id}/accept`);
    expect(again.body.acceptedAt).toBe(accepted.body.acceptedAt);
  });

  it("stops invites at the tenant's ceiling (20 included + 2 grace)", async () => {
    const client = await freshTenant("pro", { included: 20, hardCeiling: 22 });
    const carriers = (await client.get<Record<string, any>>("/v1/directory/carriers?limit=30")).body.carriers;
    const statuses: number[] = [];
    for (const carrier of carriers.slice(0, 24)) {
      statuses.push(
        (await client.post("/v1/directory/invites", { carrierId: carrier.id, email: "ops@example.com" }))
          .status,
      );
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(22);
    expect(statuses.slice(22)).toEqual([429, 429]);
    expect(await invitesUsed(client)).toBe(22);
  });

  it("refuses invites to a Starter tenant (search only) with the plan that includes them, counting nothing", async () => {
    const client = await freshTenant("starter");
    const carriers = (await client.get<Record<string, any>>("/v1/directory/carriers?limit=1")).body.carriers;
    expect(carriers).toHaveLength(1);
    const refused = await client.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: carriers[0].id,
      email: "dispatch@example.com",
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ feature: "invites", plan: "starter", requiredPlan: "pro" });
    expect(refused.body.upgradeUrl).toMatch(/\/billing\/upgrade\?plan=pro$/);
    expect(refused.body.detail).toMatch(/Carrier invites is not included in the starter plan.*Pro plan/);
    expect(await invitesUsed(client)).toBe(0);
  });

  it("rejects an invite to an unknown carrier or a bad email", async () => {
    const client = await freshTenant();
    expect(
      (
        await client.post("/v1/directory/invites", {
          carrierId: "00000000-0000-4000-8000-000000000000",
          email: "a@b.co",
        })
      ).status,
    ).toBe(404);
    const bad = await client.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: "x",
      email: "not-an-email",
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toHaveLength(2);
    expect(await invitesUsed(client)).toBe(0);
  });
});

describe("concurrent invites", () => {
  it("invites a carrier once and counts once when the same invite races", async () => {
    const client = await freshTenant();
    const carrier = (await client.get<Record<string, any>>("/v1/directory/carriers?limit=1")).body
      .carriers[0];
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        client.post("/v1/directory/invites", { carrierId: carrier.id, email: "race@example.com" }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    expect(await invitesUsed(client)).toBe(1);
  });
});
