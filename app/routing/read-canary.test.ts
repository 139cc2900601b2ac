// The read canary in the quote API over HTTP: which routes and requests it takes, read-your-writes,
// and a replica that fails. The real app and PostgreSQL; the "replica" here is the same database
// under another connection string (application_name=read-canary), so the test sees which pool
// answered: read-canary-platform.test.ts runs it against a real streaming replica.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { freePort } from "../../tools/postgres/server.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { waitFor } from "../../tools/platform/operators.ts";
import { canaryBucket } from "./read-canary.ts";

let db: TestDatabase;
let operator: pg.Pool;
let app: TestApp;
let broken: TestApp;

async function metric(base: string, line: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

async function publish(weight: number): Promise<void> {
  await operator.query(
    `UPDATE region_routing SET traffic_weights = $1::jsonb, generation = generation + 1, updated_at = now()`,
    [JSON.stringify({ primary: 100, secondary: 0, ...(weight ? { readCanary: weight } : {}) })],
  );
  for (const base of [app.url, broken.url])
    await waitFor(`canary at ${weight} %`, async () =>
      (await metric(base, "read_canary_weight_percent")) === weight ? true : undefined,
    );
}

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  operator = createPool(db.urls.operator, 1);
  const env = { REGION_ROLE: "primary", REGION_ACTIVE: "primary", ROUTING_CACHE_MS: "50" };
  const replica = new URL(db.urls.app);
  replica.searchParams.set("application_name", "read-canary");
  [app, broken] = await Promise.all([
    startTestApp({ db, env: { ...env, READ_CANARY_DATABASE_URL: replica.toString() } }),
    // A replica nobody listens on: every canary read fails and must be answered all the same.
    startTestApp({
      db,
      env: {
        ...env,
        READ_CANARY_DATABASE_URL: `postgres://freight_app:x@127.0.0.1:${await freePort()}/freight`,
      },
    }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([app?.stop(), broken?.stop()]);
  await operator?.end();
  await db?.stop();
});

describe("read canary in the API", () => {
  it("buckets a request by its id: the same id always lands alike, ids spread over 0-99", () => {
    expect(canaryBucket("req-42")).toBe(canaryBucket("req-42"));
    const buckets = Array.from({ length: 1000 }, (_, i) => canaryBucket(`req-${i.toString(36)}`));
    const below25 = buckets.filter((b) => b < 25).length;
    expect(below25).toBeGreaterThan(200);
    expect(below25).toBeLessThan(300);
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...buckets)).toBeLessThan(100);
  });

  it("at 100 % answers eligible reads from the replica, and never a write or a read that must be fresh", async () => {
    await publish(100);
    const [reader, writer] = Object.values(app.apiKeys) as [string, string];
    const reads = apiClient(app.url, reader);
    const usage = await reads.get("/v1/usage");
    expect(usage.status).toBe(200);
    expect(usage.headers.get("freight-database")).toBe("secondary");
    // Not eligible: API keys decide who may call; they are read from the serving database.
    const keys = await reads.get("/v1/api-keys");
    expect(keys.status).toBe(200);
    expect(keys.headers.get("freight-database")).toBe("primary");

    const writes = apiClient(app.url, writer);
    const created = await writes.post<{ id: string }>("/v1/quotes", quoteBody());
    expect(created.status).toBe(201);
    expect(created.headers.get("freight-database")).toBe("primary");
    // The writer reads its own write from the serving database for READ_CANARY_FRESH_SECONDS.
    const readBack = await writes.get(`/v1/quotes/${created.body.id}`);
    expect(readBack.status).toBe(200);
    expect(readBack.headers.get("freight-database")).toBe("primary");
    // Another tenant's reads are not held back by it.
    expect((await reads.get("/v1/usage")).headers.get("freight-database")).toBe("secondary");

    expect(await metric(app.url, 'db_requests_served_total{database="secondary",kind="write"}')).toBe(0);
    expect(await metric(app.url, 'db_requests_served_total{database="primary",kind="write"}')).toBe(1);
    expect(await metric(app.url, 'db_requests_served_total{database="secondary",kind="read"}')).toBe(2);
  });

  it("at 0 reads everything from the serving database", async () => {
    await publish(0);
    const reads = apiClient(app.url, Object.values(app.apiKeys)[0]!);
    for (let i = 0; i < 10; i++)
      expect((await reads.get("/v1/usage")).headers.get("freight-database")).toBe("primary");
  });

  it("answers a canary read from the serving database when the replica fails, and counts it", async () => {
    await publish(100);
    const reads = apiClient(broken.url, Object.values(broken.apiKeys)[0]!);
    for (let i = 0; i < 5; i++) {
      const usage = await reads.get("/v1/usage");
      expect(usage.status).toBe(200);
      expect(usage.headers.get("freight-database")).toBe("primary");
    }
    expect(await metric(broken.url, "read_canary_fallbacks_total")).toBe(5);
  });
});
