// A revoked key stops on every API replica within 1 s: three `node app/server.ts` processes on one
// database, each with a 60 s auth cache, so only the api_key_changed notification (or the bypass while
// a replica is not listening) can make them refuse the key that soon.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { measureRevocation, startApiReplicas, type ApiReplicas } from "../../tools/platform/api-replicas.ts";
import { apiClient } from "../../tools/platform/api-client.ts";

let db: TestDatabase;
let replicas: ApiReplicas;
let owner: pg.Client;
let adminKey: string;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  replicas = await startApiReplicas(db.urls.app, 3, { AUTH_CACHE_SECONDS: "60" });
  // The superuser, in the app's database: terminating the replicas' connections needs it.
  const inAppDatabase = new URL(db.urls.superuser);
  inAppDatabase.pathname = new URL(db.urls.owner).pathname;
  owner = new pg.Client({ connectionString: inAppDatabase.toString() });
  await owner.connect();
  adminKey = db.demoKeys["acme-logistics"]!;
  // Replicas serve before they listen (uncached until then); the tests start once all three listen.
  for (let i = 0; (await listeners()) < 3; i++) {
    if (i > 100) throw new Error("the replicas did not LISTEN on api_key_changed within 10 s");
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(async () => {
  await owner?.end();
  await replicas?.stop();
  await db?.stop();
});

async function listeners(): Promise<number> {
  const { rows } = await owner.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN api_key_changed%'",
  );
  return rows[0].n;
}

const sqlRevoke = (keyId: string) =>
  owner.query("UPDATE api_keys SET disabled_at = now() WHERE id = $1", [keyId]).then(() => undefined);

describe("revocation across replicas", () => {
  it("caches keys: without the notification a revoked key keeps working on a warm replica", async () => {
    const admin = apiClient(replicas.urls[0]!, adminKey);
    const created = await admin.post<{ id: string; key: string }>("/v1/api-keys", { name: "cache-probe" });
    const probe = apiClient(replicas.urls[1]!, created.body.key);
    expect((await probe.get("/v1/usage")).status).toBe(200);
    await owner.query("ALTER TABLE api_keys DISABLE TRIGGER api_key_changed");
    try {
      await sqlRevoke(created.body.id);
      await new Promise((r) => setTimeout(r, 300));
      expect((await probe.get("/v1/usage")).status).toBe(200);
    } finally {
      await owner.query("ALTER TABLE api_keys ENABLE TRIGGER api_key_changed");
    }
  });

  it("refuses a key revoked through the API on every replica within 1 s", async () => {
    const timing = await measureRevocation(replicas.urls, adminKey);
    expect(timing.effectiveMs).toHaveLength(3);
    for (const ms of timing.effectiveMs) expect(ms).toBeLessThanOrEqual(1000);
  });

  it("refuses a key revoked by hand in SQL on every replica within 1 s", async () => {
    const timing = await measureRevocation(replicas.urls, adminKey, { revoke: sqlRevoke });
    for (const ms of timing.effectiveMs) expect(ms).toBeLessThanOrEqual(1000);
  });

  it("refuses within 1 s even when the replicas missed the notification (LISTEN connection lost)", async () => {
    const timing = await measureRevocation(replicas.urls, adminKey, {
      revoke: async (keyId) => {
        const { rowCount } = await owner.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN api_key_changed%'",
        );
        expect(rowCount).toBe(3);
        await sqlRevoke(keyId);
      },
    });
    for (const ms of timing.effectiveMs) expect(ms).toBeLessThanOrEqual(1000);
    // The replicas listen again and keep serving: a fresh key works on all of them.
    await new Promise((r) => setTimeout(r, 1500));
    const admin = apiClient(replicas.urls[0]!, adminKey);
    const fresh = await admin.post<{ key: string }>("/v1/api-keys", { name: "after-reconnect" });
    for (const url of replicas.urls)
      expect((await apiClient(url, fresh.body.key).get("/v1/usage")).status).toBe(200);
    expect(await listeners()).toBe(3);
  });
});
