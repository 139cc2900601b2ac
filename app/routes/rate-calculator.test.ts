import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { RATE_CALCULATOR_PATH, rateCalculatorResponse } from "./rate-calculator.ts";

let db: TestDatabase;
// As the stacks deploy it: no proxy hop trusted (the NLB hands over the client's own address).
let direct: TestApp;
// Behind one proxy that appends the client's address to X-Forwarded-For.
let proxied: TestApp;
const limits = { RATE_LIMITING: "on", RATE_CALCULATOR_REQUESTS_PER_SECOND: "1", RATE_CALCULATOR_BURST: "3" };

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  direct = await startTestApp({ db, env: { ...limits, PUBLIC_BASE_URL: "https://api.freight.example" } });
  proxied = await startTestApp({ db, env: { ...limits, TRUSTED_PROXY_HOPS: "1" } });
}, 60_000);
afterAll(async () => {
  await direct?.stop();
  await proxied?.stop();
  await db?.stop();
});

async function quoteUsage(): Promise<number> {
  const client = new pg.Client({ connectionString: db.urls.ops });
  await client.connect();
  try {
    const { rows } = await client.query<{ used: number; quotes: number }>(
      "SELECT (SELECT coalesce(sum(used), 0) FROM usage_counters)::int + (SELECT count(*) FROM quotes)::int AS used",
    );
    return rows[0]?.used ?? 0;
  } finally {
    await client.end();
  }
}

const anonymous = (app: TestApp) => apiClient(app.url);

describe("POST /v1/rate-calculator", () => {
  it("prices a lane anonymously with the quote engine, stores and meters nothing, and links to signup", async () => {
    const body = quoteBody({ origin: "Atlanta, GA", destination: "Miami, FL", weightLbs: 41_000 });
    const before = await quoteUsage();
    const estimate = await anonymous(direct).post<Record<string, any>>(RATE_CALCULATOR_PATH, body, {
      "x-forwarded-for": "203.0.113.1",
    });
    expect(estimate.status).toBe(200);
    expect(rateCalculatorResponse.parse(estimate.body)).toBeTruthy();
    expect(estimate.body.signup.url).toBe("https://api.freight.example/v1/signup");
    expect(estimate.headers.get("link")).toBe('<https://api.freight.example/v1/signup>; rel="signup"');
    expect(estimate.headers.get("ratelimit-policy")).toBe('"address";q=3;w=3');
    expect(await quoteUsage()).toBe(before);

    // A tenant's quote for the same lane carries the same price (both the champion's, with no
    // experiment running); only the tenant's bucket is the quote's own.
    const quote = await apiClient(direct.url, direct.apiKeys["initech-shipping"]).post<Record<string, any>>(
      "/v1/quotes",
      body,
    );
    expect(quote.status).toBe(201);
    expect(estimate.body.totalCents).toBe(quote.body.totalCents);
    const { pricingBucket, ...tenantFree } = quote.body.breakdown;
    expect(pricingBucket).toBeTypeOf("number");
    expect(estimate.body.breakdown).toEqual(tenantFree);
  });

  it("refuses malformed, oversized and invalid requests with problems that say what to fix", async () => {
    const client = anonymous(proxied);
    const headers = { "x-forwarded-for": "198.51.100.7" };
    const malformed = await client.post(RATE_CALCULATOR_PATH, '{"origin": "Chicago, IL",', headers);
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get("content-type")).toContain("application/problem+json");
    expect(String(malformed.body["type"])).toMatch(/\/malformed-json$/);

    const oversized = await client.post(RATE_CALCULATOR_PATH, quoteBody({ notes: "x".repeat(8 * 1024) }), {
      "x-forwarded-for": "198.51.100.8",
    });
    expect(oversized.status).toBe(413);
    expect(String(oversized.body["detail"])).toContain(`${RATE_CALCULATOR_PATH} are limited to 4 KiB`);

    const invalid = await client.post(
      RATE_CALCULATOR_PATH,
      quoteBody({ origin: "Atlantis, ZZ", weightLbs: -5, extra: true }),
      { "x-forwarded-for": "198.51.100.9" },
    );
    expect(invalid.status).toBe(422);
    const fields = (invalid.body["errors"] as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(expect.arrayContaining(["weightLbs"]));
    expect(JSON.stringify(invalid.body)).toContain("unknown field 'extra'");
  });

  it("limits each client address, and a client cannot pick a fresh bucket by sending X-Forwarded-For", async () => {
    // The direct deployment ignores X-Forwarded-For: every request below is the loopback address's.
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await anonymous(direct).post(RATE_CALCULATOR_PATH, quoteBody(), {
        "x-forwarded-for": `192.0.2.${i + 10}`,
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(String(res.body["type"])).toMatch(/\/rate-limited$/);
        expect(res.body["policy"]).toBe("address");
        expect(res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
        expect(String(res.body["detail"])).toContain("/v1/signup");
      }
    }
    // The first test spent one of the burst of 3 (one more may have refilled since, at 1 per second).
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);

    // Behind one trusted proxy, the address the proxy appended is the client's: two clients, two buckets.
    const one = await anonymous(proxied).post(RATE_CALCULATOR_PATH, quoteBody(), {
      "x-forwarded-for": "192.0.2.50",
    });
    const other = await anonymous(proxied).post(RATE_CALCULATOR_PATH, quoteBody(), {
      "x-forwarded-for": "192.0.2.51",
    });
    expect([one.status, other.status]).toEqual([200, 200]);
    expect(one.headers.get("ratelimit")).toMatch(/^"address";r=2;t=\d+$/);
    expect(other.headers.get("ratelimit")).toMatch(/^"address";r=2;t=\d+$/);
  });
});
