import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, pickupInDays, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

/** A fresh Pro tenant per test, so one test's rates never cover another's lane. */
async function proTenant() {
  return apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
}

function rateBody(overrides: Record<string, unknown> = {}) {
  return {
    origin: "Chicago, IL",
    destination: "Dallas, TX",
    equipment: "dry_van",
    linehaulCents: 150_000,
    validFrom: pickupInDays(1),
    validTo: pickupInDays(30),
    reference: "MSA-2026-014",
    ...overrides,
  };
}

describe("contract rates", () => {
  it("prices a covered lane and pickup day at the contract rate, shown as such; spot elsewhere", async () => {
    const pro = await proTenant();
    const created = await pro.post<Record<string, any>>("/v1/contract-rates", rateBody());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      origin: "Chicago, IL",
      destination: "Dallas, TX",
      linehaulCents: 150_000,
      currency: "USD",
      endedAt: null,
    });

    const covered = await pro.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ pickupDate: pickupInDays(3) }),
    );
    expect(covered.status).toBe(201);
    expect(covered.body.breakdown).toMatchObject({
      source: "contract",
      contractRateId: created.body.id,
      contractValidFrom: pickupInDays(1),
      contractValidTo: pickupInDays(30),
      linehaulCents: 150_000,
      marginCents: 0,
    });
    expect(covered.body.totalCents).toBe(150_000 + covered.body.breakdown.fuelSurchargeCents);
    // Read back, the quote still says where its price came from.
    const readBack = await pro.get<Record<string, any>>(`/v1/quotes/${covered.body.id}`);
    expect(readBack.body.breakdown).toEqual(covered.body.breakdown);

    const later = await pro.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ pickupDate: pickupInDays(31) }),
    );
    const reefer = await pro.post<Record<string, any>>("/v1/quotes", quoteBody({ equipment: "reefer" }));
    const reverse = await pro.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ origin: "Dallas, TX", destination: "Chicago, IL" }),
    );
    for (const spot of [later, reefer, reverse]) {
      expect(spot.status).toBe(201);
      expect(spot.body.breakdown.source).toBe("spot");
      expect(spot.body.breakdown.contractRateId).toBeUndefined();
    }

    // Another tenant on the same lane and day gets spot pricing and cannot see the rate.
    const other = await proTenant();
    const theirs = await other.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ pickupDate: pickupInDays(3) }),
    );
    expect(theirs.body.breakdown.source).toBe("spot");
    expect((await other.get(`/v1/contract-rates/${created.body.id}`)).status).toBe(404);
    expect((await other.get<Record<string, any>>("/v1/contract-rates")).body.contractRates).toEqual([]);
  });

  it("refuses an overlapping window on the same lane, naming the rate in the way, and creates nothing", async () => {
    const client = await proTenant();
    const first = await client.post<Record<string, any>>("/v1/contract-rates", rateBody());
    expect(first.status).toBe(201);
    const overlap = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ validFrom: pickupInDays(30), validTo: pickupInDays(60), linehaulCents: 99_000 }),
    );
    expect(overlap.status).toBe(409);
    expect(overlap.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(overlap.body).toMatchObject({
      conflictingRateId: first.body.id,
      conflictingValidFrom: pickupInDays(1),
      conflictingValidTo: pickupInDays(30),
    });
    expect(overlap.body.detail).toContain(`POST /v1/contract-rates/${first.body.id}/end`);
    // The day after the window is free, and so is the same window on another lane or equipment.
    const next = await client.post(
      "/v1/contract-rates",
      rateBody({ validFrom: pickupInDays(31), validTo: pickupInDays(60) }),
    );
    const flatbed = await client.post("/v1/contract-rates", rateBody({ equipment: "flatbed" }));
    expect([next.status, flatbed.status]).toEqual([201, 201]);
    const all = await client.get<Record<string, any>>("/v1/contract-rates");
    expect(all.body.contractRates).toHaveLength(3);
  });

  it("admits one of two concurrent overlapping creates, and a retried create once", async () => {
    const client = await proTenant();
    const racing = await Promise.all([
      client.post("/v1/contract-rates", rateBody({ linehaulCents: 140_000 })),
      client.post("/v1/contract-rates", rateBody({ linehaulCents: 141_000 })),
    ]);
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409]);
    const body = rateBody({ equipment: "reefer" });
    const a = await client.post<Record<string, any>>("/v1/contract-rates", body, {
      "idempotency-key": "rate-1",
    });
    const b = await client.post<Record<string, any>>("/v1/contract-rates", body, {
      "idempotency-key": "rate-1",
    });
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(b.body.id).toBe(a.body.id);
    expect((await client.get<Record<string, any>>("/v1/contract-rates")).body.contractRates).toHaveLength(2);
  });

  it("ends a rate: quotes after its last day are spot, and a second end is refused", async () => {
    const client = await proTenant();
    const rate = await client.post<Record<string, any>>("/v1/contract-rates", rateBody());
    const ended = await client.post<Record<string, any>>(`/v1/contract-rates/${rate.body.id}/end`, {
      lastDay: pickupInDays(5),
    });
    expect(ended.status).toBe(200);
    expect(ended.body.validTo).toBe(pickupInDays(5));
    expect(ended.body.endedAt).toBeTruthy();
    const inside = await client.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ pickupDate: pickupInDays(5) }),
    );
    const after = await client.post<Record<string, any>>(
      "/v1/quotes",
      quoteBody({ pickupDate: pickupInDays(6) }),
    );
    expect(inside.body.breakdown.source).toBe("contract");
    expect(after.body.breakdown.source).toBe("spot");
    const again = await client.post<Record<string, any>>(`/v1/contract-rates/${rate.body.id}/end`, {});
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/\/contract-rate-ended$/);
    expect(again.body.detail).toContain(`its last pickup day is ${pickupInDays(5)}`);
    // Ending frees the days after it for a new rate.
    const successor = await client.post("/v1/contract-rates", rateBody({ validFrom: pickupInDays(6) }));
    expect(successor.status).toBe(201);
    const active = await client.get<Record<string, any>>(`/v1/contract-rates?activeOn=${pickupInDays(10)}`);
    expect(active.body.contractRates.map((r: { id: string }) => r.id)).not.toContain(rate.body.id);
    expect(active.body.contractRates).toHaveLength(1);
  });

  it("answers bad input with field errors and creates nothing", async () => {
    const client = await proTenant();
    const bad = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ origin: "Atlantis, ZZ", validFrom: pickupInDays(10), validTo: pickupInDays(2) }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(["origin", "validTo"]);
    const past = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ validFrom: pickupInDays(-30), validTo: pickupInDays(-1) }),
    );
    expect(past.status).toBe(422);
    expect(past.body.errors[0].message).toMatch(/in the past/);
    const money = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ linehaulCents: 12.5 }),
    );
    expect(money.body.errors[0]).toMatchObject({ field: "linehaulCents" });
    const notADay = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ validTo: "2026-02-30" }),
    );
    expect(notADay.body.errors[0]).toMatchObject({ field: "validTo", message: "is not a calendar date" });
    const unknownField = await client.post<Record<string, any>>(
      "/v1/contract-rates",
      rateBody({ discount: 5 }),
    );
    expect(unknownField.status).toBe(422);
    expect((await client.get("/v1/contract-rates/not-a-uuid")).status).toBe(422);
    expect((await client.get("/v1/contract-rates/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    const badEnd = await client.post<Record<string, any>>(
      "/v1/contract-rates/00000000-0000-4000-8000-000000000000/end",
      {},
    );
    expect(badEnd.status).toBe(404);
    expect((await client.get<Record<string, any>>("/v1/contract-rates")).body.contractRates).toEqual([]);
  });

  it("refuses contract rates to a Starter tenant with the plan that includes them", async () => {
    const starter = apiClient(t.url, t.apiKeys["acme-logistics"]);
    for (const res of [
      await starter.post<Record<string, any>>("/v1/contract-rates", rateBody()),
      await starter.get<Record<string, any>>("/v1/contract-rates"),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ feature: "contracts", plan: "starter", requiredPlan: "pro" });
      expect(res.body.upgradeUrl).toMatch(/\/billing\/upgrade\?plan=pro$/);
    }
  });
});
