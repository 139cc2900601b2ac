// The region router as users meet it: the real app over HTTP, the real region_routing row changed
// the way the failover controller changes it (as freight_operator).
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { RoutingCache } from "./state.ts";

let db: TestDatabase;
let operator: pg.Pool;
let primary: TestApp;
let secondary: TestApp;
let secondaryNoPeer: TestApp;
const PEER = "http://api.primary.example.test";
const CACHE_MS = 50;

async function setRouting(changes: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(changes);
  await operator.query(
    `UPDATE region_routing SET ${columns.map((c, i) => `${c} = $${i + 1}`).join(", ")},
            generation = generation + 1, updated_at = now()`,
    Object.values(changes),
  );
  // Every app re-reads the row within ROUTING_CACHE_MS.
  await new Promise((resolve) => setTimeout(resolve, CACHE_MS * 4));
}

/** One request without following redirects, so the 307 itself can be inspected. */
async function raw(base: string, method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    redirect: "manual",
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

async function metric(base: string, name: string): Promise<string[]> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(name));
}

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  operator = createPool(db.urls.operator, 2);
  const env = { ROUTING_CACHE_MS: String(CACHE_MS), REGION_ACTIVE: "primary" };
  [primary, secondary, secondaryNoPeer] = await Promise.all([
    startTestApp({ db, env: { ...env, REGION_NAME: "us-east-1", REGION_ROLE: "primary" } }),
    startTestApp({
      db,
      env: { ...env, REGION_NAME: "us-west-2", REGION_ROLE: "secondary", REGION_PEER_URL: PEER },
    }),
    startTestApp({ db, env: { ...env, REGION_NAME: "us-west-2", REGION_ROLE: "secondary" } }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([primary?.stop(), secondary?.stop(), secondaryNoPeer?.stop()]);
  await operator?.end();
  await db?.stop();
});

beforeEach(async () => {
  await setRouting({ active_region: "primary", writes_frozen: false, secondary_healthy: true });
});

const key = () => Object.values(primary.apiKeys)[0]!;

describe("write freeze", () => {
  it("answers writes with 503 problem+json and Retry-After while reads keep working", async () => {
    const api = apiClient(primary.url, key());
    const quote = await api.post<{ id: string }>("/v1/quotes", quoteBody());
    expect(quote.status).toBe(201);

    await setRouting({ writes_frozen: true, reason: "failover to secondary" });
    const frozen = await api.post("/v1/quotes", quoteBody());
    expect(frozen.status).toBe(503);
    expect(frozen.headers.get("retry-after")).toBe("5");
    expect(frozen.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(frozen.body).toMatchObject({
      type: "https://docs.freight.dev/problems/writes-frozen",
      status: 503,
      retryAfterSeconds: 5,
    });
    expect(String(frozen.body.detail)).toMatch(/nothing was changed.*Reads keep working/);
    const booking = await api.post(`/v1/quotes/${quote.body.id}/book`, {});
    expect(booking.status).toBe(503);

    expect((await api.get(`/v1/quotes/${quote.body.id}`)).status).toBe(200);
    expect((await api.get("/v1/locations")).status).toBe(200);
    expect((await apiClient(primary.url).get("/readyz")).status).toBe(200);
    expect(await metric(primary.url, "writes_frozen ")).toEqual(["writes_frozen 1"]);

    await setRouting({ writes_frozen: false });
    expect((await api.post("/v1/quotes", quoteBody())).status).toBe(201);
    expect(await metric(primary.url, "writes_frozen ")).toEqual(["writes_frozen 0"]);
  });

  it("freezes every write, webhooks included, but never the probes", async () => {
    await setRouting({ writes_frozen: true, secondary_healthy: false });
    const webhook = await fetch(`${primary.url}/webhooks/stripe`, { method: "POST", body: "{}" });
    expect(webhook.status).toBe(503);
    expect(webhook.headers.get("retry-after")).toBe("5");
    // The secondary's own readiness is what the health gate reads: never pinned or redirected.
    const ready = await fetch(`${secondary.url}/readyz`, { redirect: "manual" });
    expect(ready.status).toBe(200);
    expect((await fetch(`${secondary.url}/metrics`, { redirect: "manual" })).status).toBe(200);
  });

  it("freezes writes in the standby region too, before any redirect", async () => {
    await setRouting({ writes_frozen: true });
    const response = await raw(secondary.url, "POST", "/v1/quotes", key(), quoteBody());
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
  });
});

describe("standby region", () => {
  it("serves reads locally and sends writes to the active region with a 307", async () => {
    const read = await raw(secondary.url, "GET", "/v1/locations", key());
    expect(read.status).toBe(200);
    expect(read.headers.get("freight-region")).toBe("us-west-2 (secondary)");

    const write = await raw(secondary.url, "POST", "/v1/quotes?x=1", key(), quoteBody());
    expect(write.status).toBe(307);
    expect(write.headers.get("location")).toBe(`${PEER}/v1/quotes?x=1`);
    expect(write.headers.get("freight-active-region")).toBe("primary");
    expect(write.body.detail).toMatch(/standby region \(secondary\); writes are served by the active region/);
  });

  it("pins every request to the primary while the secondary is unhealthy", async () => {
    await setRouting({ secondary_healthy: false });
    const read = await raw(secondary.url, "GET", "/v1/locations", key());
    expect(read.status).toBe(307);
    expect(read.headers.get("location")).toBe(`${PEER}/v1/locations`);
    expect(read.body.detail).toMatch(/secondary region is unhealthy/);
    // The primary itself is not affected.
    expect((await raw(primary.url, "GET", "/v1/locations", key())).status).toBe(200);
  });

  it("without REGION_PEER_URL answers 503 naming the active region", async () => {
    const write = await raw(secondaryNoPeer.url, "POST", "/v1/quotes", key(), quoteBody());
    expect(write.status).toBe(503);
    expect(write.headers.get("freight-active-region")).toBe("primary");
    expect(write.body.detail).toMatch(/Send the request to the primary region's endpoint/);
  });

  it("follows a flip: the secondary takes writes, the primary becomes the standby", async () => {
    await setRouting({ active_region: "secondary" });
    const fromPrimary = await raw(primary.url, "POST", "/v1/quotes", key(), quoteBody());
    expect(fromPrimary.status).toBe(503); // no peer URL configured on the test primary
    expect(fromPrimary.headers.get("freight-active-region")).toBe("secondary");
    // The test database is writable in both "regions", so the secondary's write succeeds.
    expect((await raw(secondary.url, "POST", "/v1/quotes", key(), quoteBody())).status).toBe(201);
    expect(await metric(primary.url, "region_serving{")).toEqual([
      'region_serving{region="us-east-1",role="primary"} 0',
    ]);
    expect(await metric(secondary.url, "region_serving{")).toEqual([
      'region_serving{region="us-west-2",role="secondary"} 1',
    ]);
  });
});

describe("routing cache", () => {
  it("reads the row once per refresh however many requests read it", async () => {
    const pool = createPool(db.urls.app, 2);
    let queries = 0;
    const counting = new Proxy(pool, {
      get(target, property, receiver) {
        if (property === "query") {
          return (...args: Parameters<pg.Pool["query"]>) => {
            queries++;
            return (target.query as (...a: unknown[]) => unknown)(...args);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const cache = new RoutingCache({ pool: counting, defaultActive: "primary", refreshMs: 500 });
    try {
      await cache.start();
      for (let i = 0; i < 10_000; i++) expect(cache.state.activeRegion).toBe("primary");
      expect(queries).toBe(1);
    } finally {
      cache.stop();
      await pool.end();
    }
  });

  it("keeps the last state, marked stale, when the database is unreachable", async () => {
    const pool = createPool(db.urls.app, 1);
    const errors: string[] = [];
    const cache = new RoutingCache({
      pool,
      defaultActive: "primary",
      refreshMs: 10_000,
      onError: (e) => errors.push(e.message),
    });
    await setRouting({ writes_frozen: true });
    await cache.start();
    cache.stop();
    await pool.end();
    await cache.refresh();
    expect(cache.state).toMatchObject({ writesFrozen: true, source: "stale" });
    expect(errors.length).toBe(1);
  });
});
