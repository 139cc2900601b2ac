import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";

let db: TestDatabase;
// Two replicas of one region: two app processes' worth of limiters on one database.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  const env = { RATE_LIMITING: "on" };
  a = await startTestApp({ db, env });
  b = await startTestApp({ db, env });
}, 60_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await db?.stop();
});

async function asOperator<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.urls.operator });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function usedQuotes(slug: string): Promise<number> {
  const rows = await asOperator<{ used: number }>(
    `SELECT coalesce(sum(u.used), 0)::int AS used FROM usage_counters u JOIN tenants t ON t.id = u.tenant_id
      WHERE t.slug = $1 AND u.meter = 'quotes'`,
    [slug],
  );
  return rows[0]?.used ?? 0;
}

async function setLimits(slug: string, requestsPerSecond: number, burst: number): Promise<void> {
  await asOperator(
    `INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, burst, bulk_job_concurrency, source)
     SELECT id, $2, $3, 1, 'test' FROM tenants WHERE slug = $1
     ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = $2, burst = $3, updated_at = now()`,
    [slug, requestsPerSecond, burst],
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("request rate limits per tenant", () => {
  it("admits a burst across both replicas, then answers 429 rate-limited with Retry-After, counting nothing refused", async () => {
    // Starter: 5 requests per second, bursts of 10 (the plan's limits; the controller wrote no row yet).
    const key = a.apiKeys["acme-logistics"] as string;
    const before = await usedQuotes("acme-logistics");
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        apiClient(i % 2 ? a.url : b.url, key).post("/v1/quotes", quoteBody()),
      ),
    );
    const elapsed = (Date.now() - started) / 1000;
    const admitted = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status === 429);
    expect(admitted.length + refused.length).toBe(40);
    // The burst, plus what refilled while the requests ran: never more, whichever replica answered.
    expect(admitted.length).toBeGreaterThanOrEqual(10);
    expect(admitted.length).toBeLessThanOrEqual(10 + Math.ceil(elapsed * 5));
    expect(await usedQuotes("acme-logistics")).toBe(before + admitted.length);

    const denial = refused[0] as (typeof refused)[number];
    expect(denial.headers.get("content-type")).toContain("application/problem+json");
    expect(String(denial.body["type"])).toMatch(/\/rate-limited$/);
    expect(denial.body).toMatchObject({ status: 429, policy: "tenant", requestsPerSecond: 5, burst: 10 });
    expect(String(denial.body["detail"])).toContain("acme-logistics");
    expect(denial.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(denial.headers.get("ratelimit-policy")).toBe('"tenant";q=10;w=2');
    expect(denial.headers.get("ratelimit")).toMatch(/^"tenant";r=0;t=\d+$/);

    // After Retry-After the tenant is served again.
    await sleep(Number(denial.headers.get("retry-after")) * 1000);
    const again = await apiClient(a.url, key).post("/v1/quotes", quoteBody());
    expect(again.status).toBe(201);
  });

  it("tells an admitted caller its policy and what is left (draft RateLimit-Policy and RateLimit)", async () => {
    const res = await apiClient(a.url, a.apiKeys["initech-shipping"]).get("/v1/locations");
    expect(res.status).toBe(200);
    // Enterprise: 200 per second, bursts of 400.
    expect(res.headers.get("ratelimit-policy")).toBe('"tenant";q=400;w=2');
    const [, remaining] = /^"tenant";r=(\d+);t=\d+$/.exec(res.headers.get("ratelimit") ?? "") ?? [];
    expect(Number(remaining)).toBeGreaterThan(300);
    expect(Number(remaining)).toBeLessThanOrEqual(400);
  });

  it("applies an operator's new limits within seconds, without a restart", async () => {
    const client = apiClient(b.url, b.apiKeys["globex-freight"]);
    expect((await client.get("/v1/locations")).headers.get("ratelimit-policy")).toBe('"tenant";q=100;w=2');
    await setLimits("globex-freight", 1, 2);
    let policy: string | null = null;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      policy = (await client.get("/v1/locations")).headers.get("ratelimit-policy");
      if (policy === '"tenant";q=2;w=2') break;
      await sleep(100);
    }
    expect(policy).toBe('"tenant";q=2;w=2');
    const burst = await Promise.all(Array.from({ length: 6 }, () => client.get("/v1/locations")));
    expect(burst.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(3);
    await setLimits("globex-freight", 50, 100);
  });

  it("leaves unauthenticated requests to the 401, spending no tenant's tokens", async () => {
    const res = await apiClient(a.url, "fk_live_not-a-real-key-but-long-enough-000").get("/v1/locations");
    expect(res.status).toBe(401);
    expect(res.headers.get("ratelimit")).toBeNull();
  });
});
