import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;
// A day ago: well inside the 30-day window, so readiness is "ready", not "degraded".
const RECENT = new Date(Math.floor(Date.now() / 1000 - 86_400) * 1000).toISOString();

beforeAll(async () => {
  t = await startTestApp({ env: { SECRETS_LAST_ROTATED: `llm-provider=${RECENT}` } });
});
afterAll(async () => t?.stop());

describe("health and metrics", () => {
  it("/healthz answers while the process lives; /readyz reports database and schema", async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      checks: { database: "ok", migrations: "current", secrets: "1 within their rotation windows" },
    });
  });

  it("/readyz stays ready for migrations this version does not need, and for a schema a newer version migrated", async () => {
    const owner = new pg.Client({ connectionString: t.db.urls.owner });
    await owner.connect();
    try {
      const { migrationStatus, buildMigrations } = await import("../db/migrate.ts");
      const build = [...buildMigrations(), { name: "9998_drop_quotes_legacy_lane", needed: false }];
      expect(await migrationStatus(owner as unknown as pg.PoolClient, build)).toEqual({
        missing: [],
        pending: ["9998_drop_quotes_legacy_lane"],
        ahead: [],
      });
      await owner.query("INSERT INTO pgmigrations (name, run_on) VALUES ('9999_next_release_expand', now())");
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as any).checks.migrations).toBe(
        "ahead, applied by a newer version: 9999_next_release_expand",
      );
    } finally {
      await owner.query("DELETE FROM pgmigrations WHERE name = '9999_next_release_expand'");
      await owner.end();
    }
  });

  it("/readyz fails with the missing migration named when the schema is behind what this version needs", async () => {
    const owner = new pg.Client({ connectionString: t.db.urls.owner });
    await owner.connect();
    const { rows } = await owner.query(
      "DELETE FROM pgmigrations WHERE name = (SELECT max(name) FROM pgmigrations) RETURNING name, run_on",
    );
    try {
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(503);
      const body: any = await ready.json();
      expect(body.checks.migrations).toBe(
        `missing: ${rows[0].name} (this version needs them: run npm run migrate)`,
      );
    } finally {
      for (const row of rows)
        await owner.query("INSERT INTO pgmigrations (name, run_on) VALUES ($1, $2)", [row.name, row.run_on]);
      await owner.end();
    }
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });

  it("/metrics exports request latency with a 0.6 s bucket, quotes and meter decisions, and no ids as labels", async () => {
    const client = apiClient(t.url, t.apiKeys["initech-shipping"]);
    const quote = await client.post<Record<string, any>>("/v1/quotes", quoteBody({ equipment: "flatbed" }));
    await client.post(`/v1/quotes/${quote.body.id}/book`);
    await client.get(`/v1/quotes/${quote.body.id}`);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(
      /http_request_duration_seconds_bucket\{le="0.6",route="\/v1\/quotes",method="POST",status_class="2xx"\} [1-9]/,
    );
    expect(text).toMatch(
      /http_request_duration_seconds_count\{route="\/v1\/quotes\/:id",method="GET",status_class="2xx"\} 1/,
    );
    expect(text).toMatch(/quotes_created_total\{equipment="flatbed"\} 1/);
    expect(text).toMatch(/quote_bookings_total 1/);
    expect(text).toMatch(/meter_decisions_total\{meter="quotes",decision="admitted"\} [1-9]/);
    expect(text).toMatch(/region_serving\{region="local",role="primary"\} 1/);
    expect(text).toContain(
      `secret_last_rotated_timestamp_seconds{secret="llm-provider"} ${new Date(RECENT).getTime() / 1000}`,
    );
    expect(text).toMatch(/^readiness_degraded\{check="secret-rotation"\} 0$/m);
    expect(text).toMatch(/process_resident_memory_bytes/);
    // Bounded labels: neither the quote id nor the tenant appears anywhere in the exposition.
    expect(text).not.toContain(quote.body.id);
    expect(text).not.toContain("initech");
  });
});
