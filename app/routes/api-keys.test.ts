// API key lifecycle as a tenant's admin lives it: create (shown once), list (never the key), scopes
// refused with the scope named, rotation with a grace period, revocation, last use without a write per
// request, and no key material in the logs.
import { Writable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAppConfig } from "../config.ts";
import { createPool } from "../db/pool.ts";
import { buildApp } from "../http/app.ts";
import { hashApiKey } from "../http/auth.ts";
import { createMetrics } from "../observability/metrics.ts";
import { PRICING } from "../pricing/data.ts";
import { QuoteEngine } from "../pricing/engine.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;
let admin: ReturnType<typeof apiClient>;
let owner: pg.Client;

beforeAll(async () => {
  t = await startTestApp({ env: { API_KEY_LAST_USED_FLUSH_SECONDS: "1" } });
  admin = apiClient(t.url, t.apiKeys["acme-logistics"]);
  owner = new pg.Client({ connectionString: t.db.urls.owner });
  await owner.connect();
});
afterAll(async () => {
  await owner?.end();
  await t?.stop();
});

type Key = Record<string, any>;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createKey(body: Record<string, unknown>): Promise<Key> {
  const res = await admin.post<Key>("/v1/api-keys", body);
  expect(res.status).toBe(201);
  return res.body;
}

describe("creating and listing keys", () => {
  it("shows the key once, and the list never carries the key or its hash", async () => {
    const created = await createKey({ name: "ci-pipeline", scopes: ["read", "quote"] });
    expect(created.key).toMatch(/^fk_live_[A-Za-z0-9_-]{32}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created).toMatchObject({ name: "ci-pipeline", scopes: ["read", "quote"], status: "active" });

    const quote = await apiClient(t.url, created.key).post("/v1/quotes", quoteBody());
    expect(quote.status).toBe(201);

    const list = await admin.get<{ apiKeys: Key[] }>("/v1/api-keys");
    expect(list.status).toBe(200);
    const listed = list.body.apiKeys.find((k) => k.id === created.id)!;
    expect(listed).toMatchObject({ prefix: created.prefix, name: "ci-pipeline", scopes: ["read", "quote"] });
    expect(listed.createdAt).toBe(created.createdAt);
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(hashApiKey(created.key));
    expect(Object.keys(listed)).not.toContain("key");
  });

  it("only lists the caller's own tenant's keys", async () => {
    const globex = apiClient(t.url, t.apiKeys["globex-freight"]);
    const mine = await createKey({ name: "acme-only" });
    const theirs = await globex.get<{ apiKeys: Key[] }>("/v1/api-keys");
    expect(theirs.body.apiKeys.map((k) => k.id)).not.toContain(mine.id);
    expect((await globex.call("DELETE", `/v1/api-keys/${mine.id}`)).status).toBe(404);
  });

  it("refuses bad names, scopes and expiries with every field named", async () => {
    const res = await admin.post<Key>("/v1/api-keys", {
      name: "",
      scopes: ["read", "write"],
      expiresAt: "2001-01-01T00:00:00Z",
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: Key) => e.field).sort()).toEqual(["expiresAt", "name", "scopes.1"]);
    const past = await admin.post<Key>("/v1/api-keys", { name: "x", expiresAt: "2001-01-01T00:00:00Z" });
    expect(past.body.errors[0].message).toMatch(/future/);
  });

  it("stops a key at its expiry", async () => {
    const created = await createKey({ name: "short", expiresAt: new Date(Date.now() + 1500).toISOString() });
    const client = apiClient(t.url, created.key);
    expect((await client.get("/v1/usage")).status).toBe(200);
    await sleep(1700);
    const res = await client.get<Key>("/v1/usage");
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
  });
});

describe("scopes", () => {
  it("refuses what the key's scopes do not cover, naming the scope needed", async () => {
    const reader = apiClient(t.url, (await createKey({ name: "dashboard", scopes: ["read"] })).key);
    expect((await reader.get("/v1/usage")).status).toBe(200);
    const quote = await reader.post<Key>("/v1/quotes", quoteBody());
    expect(quote.status).toBe(403);
    expect(quote.headers.get("content-type")).toMatch(/problem\+json/);
    expect(quote.body.type).toMatch(/\/insufficient-scope$/);
    expect(quote.body.requiredScope).toBe("quote");
    expect(quote.body.detail).toContain("'quote'");
    const keys = await reader.get<Key>("/v1/api-keys");
    expect(keys.status).toBe(403);
    expect(keys.body.requiredScope).toBe("admin");

    const quoter = apiClient(t.url, (await createKey({ name: "quoter", scopes: ["quote"] })).key);
    expect((await quoter.post("/v1/quotes", quoteBody())).status).toBe(201);
    const read = await quoter.get<Key>("/v1/usage");
    expect(read.status).toBe(403);
    expect(read.body.requiredScope).toBe("read");
    expect((await quoter.post<Key>("/v1/api-keys", { name: "escalate" })).body.requiredScope).toBe("admin");
  });

  it("keeps the demo keys working with every scope", async () => {
    const list = await admin.get<{ apiKeys: Key[] }>("/v1/api-keys");
    const seeded = list.body.apiKeys.find((k) => k.name === "default")!;
    expect(seeded.scopes).toEqual(["read", "quote", "admin"]);
  });
});

describe("rotation and revocation", () => {
  it("rotates: the new key works at once, the old one until its grace period ends", async () => {
    const old = await createKey({ name: "edi-bridge", scopes: ["read", "quote"] });
    const rotated = await admin.post<Key>(`/v1/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 2 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.key).not.toBe(old.key);
    expect(rotated.body).toMatchObject({
      name: "edi-bridge",
      scopes: ["read", "quote"],
      rotatedFrom: old.id,
    });
    expect(rotated.body.previous).toMatchObject({ id: old.id, status: "expiring" });
    const ends = Date.parse(rotated.body.previous.expiresAt);
    expect(ends - Date.now()).toBeLessThanOrEqual(2000);

    const oldClient = apiClient(t.url, old.key);
    expect((await oldClient.get("/v1/usage")).status).toBe(200);
    expect((await apiClient(t.url, rotated.body.key).get("/v1/usage")).status).toBe(200);
    await sleep(Math.max(0, ends - Date.now()) + 200);
    expect((await oldClient.get("/v1/usage")).status).toBe(401);
    expect((await apiClient(t.url, rotated.body.key).get("/v1/usage")).status).toBe(200);
  });

  it("refuses a grace period outside 0 s to 7 days, and rotating a revoked key", async () => {
    const key = await createKey({ name: "bounds" });
    for (const gracePeriodSeconds of [-1, 8 * 24 * 3600, 1.5, "1h"]) {
      const res = await admin.post<Key>(`/v1/api-keys/${key.id}/rotate`, { gracePeriodSeconds });
      expect(res.status).toBe(422);
      expect(res.body.errors[0].field).toBe("gracePeriodSeconds");
    }
    expect((await admin.call("DELETE", `/v1/api-keys/${key.id}`)).status).toBe(200);
    const res = await admin.post<Key>(`/v1/api-keys/${key.id}/rotate`, {});
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/revoked/);
  });

  it("revokes at once; revoking again answers the same; unknown and malformed ids are refused", async () => {
    const key = await createKey({ name: "leaked" });
    const client = apiClient(t.url, key.key);
    expect((await client.get("/v1/usage")).status).toBe(200);
    const revoked = await admin.call<Key>("DELETE", `/v1/api-keys/${key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe("revoked");
    expect((await client.get("/v1/usage")).status).toBe(401);
    const again = await admin.call<Key>("DELETE", `/v1/api-keys/${key.id}`);
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
    expect((await admin.call("DELETE", "/v1/api-keys/7b0c1a52-4a8e-4f55-9d5e-3f0e7d2a1b9c")).status).toBe(
      404,
    );
    expect((await admin.call("DELETE", "/v1/api-keys/not-a-key")).status).toBe(422);
  });
});

describe("last use", () => {
  it("records the last use without a write per request", async () => {
    const key = await createKey({ name: "busy" });
    await owner.query(
      "CREATE TABLE IF NOT EXISTS key_touches (key_id uuid, at timestamptz DEFAULT clock_timestamp())",
    );
    await owner.query(`CREATE OR REPLACE FUNCTION count_key_touch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO key_touches (key_id) VALUES (NEW.id); RETURN NEW; END $$`);
    await owner.query("GRANT INSERT ON key_touches TO freight_app");
    await owner.query(`CREATE OR REPLACE TRIGGER count_key_touch AFTER UPDATE OF last_used_at ON api_keys
      FOR EACH ROW EXECUTE FUNCTION count_key_touch()`);
    const client = apiClient(t.url, key.key);
    const started = Date.now();
    for (let i = 0; i < 40; i++) expect((await client.get("/v1/usage")).status).toBe(200);
    const elapsedS = (Date.now() - started) / 1000;
    await sleep(1500);
    const { rows } = await owner.query("SELECT count(*)::int AS n FROM key_touches WHERE key_id = $1", [
      key.id,
    ]);
    // One write per 1 s flush interval at most, whatever the request count.
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
    expect(rows[0].n).toBeLessThanOrEqual(Math.ceil(elapsedS) + 2);
    const listed = (await admin.get<{ apiKeys: Key[] }>("/v1/api-keys")).body.apiKeys.find(
      (k) => k.id === key.id,
    )!;
    expect(Date.parse(listed.lastUsedAt)).toBeGreaterThanOrEqual(started);
  });
});

describe("logs", () => {
  it("never contain key material across create, rotate, authenticate and failed attempts", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = parseAppConfig({
      DATABASE_URL: t.db.urls.app,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "trace",
      AUTH_CACHE_SECONDS: "5",
    });
    const pool = createPool(config.DATABASE_URL, 4);
    const app = await buildApp({
      config,
      pool,
      metrics: createMetrics(),
      engine: new QuoteEngine(PRICING),
      logger: { level: "trace", stream },
    });
    try {
      const url = await app.listen({ port: 0, host: "127.0.0.1" });
      const seeded = t.apiKeys["acme-logistics"]!;
      const a = apiClient(url, seeded);
      const created = (await a.post<Key>("/v1/api-keys", { name: "logged?" })).body;
      const rotated = (await a.post<Key>(`/v1/api-keys/${created.id}/rotate`, { gracePeriodSeconds: 0 }))
        .body;
      const secrets = [seeded, created.key, rotated.key];
      await apiClient(url, rotated.key).get("/v1/usage");
      await apiClient(url, created.key).get("/v1/usage"); // rotated out: 401
      await apiClient(url, `${rotated.key}x`).get("/v1/usage"); // unknown
      await apiClient(url, rotated.key.slice(0, 20)).get("/v1/usage"); // malformed
      await apiClient(url, rotated.key).post("/v1/quotes", "{not json");
      await a.call("DELETE", `/v1/api-keys/${rotated.id}`);
      await apiClient(url, rotated.key).get("/v1/usage"); // revoked
      await app.close();
      expect(lines.length).toBeGreaterThan(0);
      const logged = lines.join("");
      for (const secret of secrets) {
        expect(logged).not.toContain(secret);
        expect(logged).not.toContain(secret.slice(12)); // the part after the visible prefix
        expect(logged).not.toContain(hashApiKey(secret));
      }
      expect(logged.toLowerCase()).not.toContain("bearer");
    } finally {
      await app.close();
      await pool.end();
    }
  });
});
