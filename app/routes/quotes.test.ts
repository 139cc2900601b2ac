import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, pickupInDays, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;
let acme: ReturnType<typeof apiClient>;
let globex: ReturnType<typeof apiClient>;

beforeAll(async () => {
  t = await startTestApp();
  acme = apiClient(t.url, t.apiKeys["acme-logistics"]);
  globex = apiClient(t.url, t.apiKeys["globex-freight"]);
});
afterAll(async () => t?.stop());

async function usedQuotes(slug: string): Promise<number> {
  const ops = new pg.Client({ connectionString: t.db.urls.ops });
  await ops.connect();
  try {
    const { rows } = await ops.query(
      "SELECT coalesce(sum(u.used), 0)::int AS used FROM usage_counters u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = $1 AND u.meter = 'quotes'",
      [slug],
    );
    return rows[0].used;
  } finally {
    await ops.end();
  }
}

describe("POST /v1/quotes", () => {
  it("prices a lane with a breakdown and an expiry, and meters it", async () => {
    const before = await usedQuotes("globex-freight");
    const res = await globex.post<Record<string, any>>("/v1/quotes", quoteBody({ equipment: "reefer" }));
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.origin).toBe("Chicago, IL");
    expect(res.body.currency).toBe("USD");
    const b = res.body.breakdown;
    expect(res.body.totalCents).toBe(b.linehaulCents + b.fuelSurchargeCents + b.marginCents);
    expect(b.equipmentFactor).toBe(1.22);
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 25 * 60_000);
    expect(res.headers.get("meter-usage")).toMatch(/^quotes;used=\d+;included=25000/);
    expect(await usedQuotes("globex-freight")).toBe(before + 1);
  });

  it("is deterministic for the same inputs and pricing data", async () => {
    const body = quoteBody({ origin: "Atlanta, GA", destination: "Miami, FL", weightLbs: 41_000 });
    const a = await globex.post<Record<string, any>>("/v1/quotes", body);
    const b = await globex.post<Record<string, any>>("/v1/quotes", body);
    expect(a.body.id).not.toBe(b.body.id);
    expect(a.body.totalCents).toBe(b.body.totalCents);
    expect(a.body.breakdown).toEqual(b.body.breakdown);
  });

  it("reads a quote back, and only for its own tenant", async () => {
    const created = await globex.post<Record<string, any>>("/v1/quotes", quoteBody());
    const mine = await globex.get<Record<string, any>>(`/v1/quotes/${created.body.id}`);
    expect(mine.status).toBe(200);
    expect(mine.body.totalCents).toBe(created.body.totalCents);
    expect(mine.body.breakdown).toEqual(created.body.breakdown);
    const theirs = await acme.get(`/v1/quotes/${created.body.id}`);
    expect(theirs.status).toBe(404);
  });

  it("answers 401 problem+json for a missing, malformed or unknown key", async () => {
    for (const client of [
      apiClient(t.url),
      apiClient(t.url, "nope"),
      apiClient(t.url, `fk_live_${"x".repeat(32)}`),
    ]) {
      const res = await client.post<Record<string, any>>("/v1/quotes", quoteBody());
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(res.body.type).toMatch(/\/unauthorized$/);
      expect(res.body.detail).toBeTruthy();
    }
  });
});

describe("Idempotency-Key", () => {
  it("returns the first answer on retry and counts once, even for concurrent retries", async () => {
    const before = await usedQuotes("globex-freight");
    const key = `retry-${Date.now()}`;
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        globex.post<Record<string, any>>("/v1/quotes", quoteBody(), { "idempotency-key": key }),
      ),
    );
    const ids = new Set(responses.map((r) => r.body.id));
    expect(responses.every((r) => r.status === 201)).toBe(true);
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(7);
    expect(await usedQuotes("globex-freight")).toBe(before + 1);
  });

  it("refuses a key reused for a different request, without counting", async () => {
    const key = `reuse-${Date.now()}`;
    await globex.post("/v1/quotes", quoteBody(), { "idempotency-key": key });
    const before = await usedQuotes("globex-freight");
    const res = await globex.post<Record<string, any>>("/v1/quotes", quoteBody({ weightLbs: 12_345 }), {
      "idempotency-key": key,
    });
    expect(res.status).toBe(422);
    expect(res.body.type).toMatch(/idempotency-key-reused/);
    expect(await usedQuotes("globex-freight")).toBe(before);
  });

  it("rejects a malformed key", async () => {
    const res = await globex.post<Record<string, any>>("/v1/quotes", quoteBody(), {
      "idempotency-key": "has spaces in it",
    });
    expect(res.status).toBe(400);
  });
});

describe("POST /v1/quotes/:id/book", () => {
  it("books a quote exactly once under concurrent attempts", async () => {
    const quote = await globex.post<Record<string, any>>("/v1/quotes", quoteBody());
    const attempts = await Promise.all(
      Array.from({ length: 10 }, () => globex.post<Record<string, any>>(`/v1/quotes/${quote.body.id}/book`)),
    );
    const booked = attempts.filter((r) => r.status === 201);
    expect(booked).toHaveLength(1);
    expect(booked[0]?.body.totalCents).toBe(quote.body.totalCents);
    const refused = attempts.filter((r) => r.status === 409);
    expect(refused).toHaveLength(9);
    expect(refused[0]?.body.type).toMatch(/quote-already-booked/);
    const after = await globex.get<Record<string, any>>(`/v1/quotes/${quote.body.id}`);
    expect(after.body.bookedAt).toBeTruthy();
  });

  it("cannot book another tenant's quote or an unknown one", async () => {
    const quote = await globex.post<Record<string, any>>("/v1/quotes", quoteBody());
    expect((await acme.post(`/v1/quotes/${quote.body.id}/book`)).status).toBe(404);
    expect((await globex.post("/v1/quotes/00000000-0000-4000-8000-000000000000/book")).status).toBe(404);
    expect((await globex.post("/v1/quotes/not-a-uuid/book")).status).toBe(422);
  });
});

describe("bad input", () => {
  const cases: [string, unknown, RegExp][] = [
    ["negative weight", quoteBody({ weightLbs: -5 }), /weightLbs/],
    ["fractional weight", quoteBody({ weightLbs: 100.5 }), /weightLbs/],
    ["overweight", quoteBody({ weightLbs: 90_000 }), /at most 45000 lbs/],
    ["same origin and destination", quoteBody({ destination: "Chicago, IL" }), /must differ from origin/],
    ["pickup in the past", quoteBody({ pickupDate: "2020-01-01" }), /in the past/],
    ["pickup too far ahead", quoteBody({ pickupDate: pickupInDays(400) }), /more than 180 days ahead/],
    ["not a date", quoteBody({ pickupDate: "2026-02-30" }), /not a calendar date/],
    ["unknown market", quoteBody({ origin: "Gotham, NY" }), /unknown market 'Gotham, NY'/],
    ["wrong type", quoteBody({ weightLbs: "heavy" }), /weightLbs/],
    ["unknown equipment", quoteBody({ equipment: "tanker" }), /equipment/],
    ["unknown field", quoteBody({ discount: 50 }), /unknown field 'discount'/],
    ["missing fields", {}, /origin/],
    ["array body", [1, 2], /(body)|expected object/],
  ];

  it.each(cases)("%s -> 422 with field errors, nothing counted", async (_name, body, message) => {
    const before = await usedQuotes("globex-freight");
    const res = await globex.post<Record<string, any>>("/v1/quotes", body);
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(res.body.errors)).toMatch(message);
    expect(await usedQuotes("globex-freight")).toBe(before);
  });

  it("malformed JSON -> 400, a 10 MB body -> 413, wrong media type -> 415", async () => {
    const before = await usedQuotes("globex-freight");
    expect((await globex.post("/v1/quotes", "{not json")).status).toBe(400);
    const huge = JSON.stringify(quoteBody({ note: "x".repeat(10 * 1024 * 1024) }));
    const tooLarge = await globex.post<Record<string, any>>("/v1/quotes", huge);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.type).toMatch(/body-too-large/);
    const xml = await globex.call("POST", "/v1/quotes", "<quote/>", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
    expect(await usedQuotes("globex-freight")).toBe(before);
  });

  it("unknown routes answer a 404 problem", async () => {
    const res = await globex.get<Record<string, any>>("/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.type).toMatch(/not-found/);
  });
});
