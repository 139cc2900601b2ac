// Lead signals against a real PostgreSQL and a real HTTP CRM receiver: who crosses the thresholds
// in 72 hours (and who does not), one signal per tenant per window, and an outbox that survives a
// CRM down for an hour without losing or doubling a signal.
import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { createPool } from "../db/pool.ts";
import { parseLeadSignalsConfig } from "../ops/lead-signals.ts";
import { backoffMinutes, deliverLeadSignals, detectLeadSignals } from "./lead-signals.ts";

const HOUR = 3_600_000;
const SECRET = "crm-signing-secret-0123456789";
let db: TestDatabase;
let superuser: pg.Pool;
let operator: pg.Pool;

interface Received {
  key: string;
  signature: string;
  raw: string;
  body: Record<string, any>;
}
let crm: Server;
let crmUrl = "";
const received: Received[] = [];
let crmStatus = 200;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "plans" });
  superuser = new pg.Pool({ connectionString: db.urls.superuser.replace(/\/postgres$/, "/freight"), max: 2 });
  // An idle client told to terminate while the pool ends must not become an uncaught error.
  superuser.on("error", () => undefined);
  operator = createPool(db.urls.operator, 4);
  crm = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      if (crmStatus === 200)
        received.push({
          key: String(req.headers["idempotency-key"]),
          signature: String(req.headers["x-freight-signature"]),
          raw,
          body: JSON.parse(raw) as Record<string, any>,
        });
      res.writeHead(crmStatus).end();
    });
  });
  await new Promise<void>((resolve) => crm.listen(0, "127.0.0.1", resolve));
  crmUrl = `http://127.0.0.1:${(crm.address() as AddressInfo).port}/hooks/freight`;
}, 120_000);

afterAll(async () => {
  crm?.closeAllConnections();
  await new Promise((resolve) => crm?.close(resolve));
  await superuser?.end();
  await operator?.end();
  await db?.stop();
});

async function tenant(slug: string, billingStatus = "trialing"): Promise<string> {
  const { rows } = await superuser.query<{ id: string }>(
    "INSERT INTO tenants (slug, name, plan_id, billing_status) VALUES ($1, $1, 'starter', $2) RETURNING id",
    [slug, billingStatus],
  );
  return rows[0]!.id;
}

async function quotes(tenantId: string, at: Date[]): Promise<void> {
  await superuser.query(
    `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                         linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown,
                         pricing_version, expires_at, created_at)
     SELECT $1, 'Dallas, TX', 'Atlanta, GA', 'dry_van', 20000, current_date, 780, 100000, 10000, 5000, 115000,
            '{}', 'test', c + interval '30 minutes', c
       FROM unnest($2::timestamptz[]) AS c`,
    [tenantId, at],
  );
}

async function bulkJobs(tenantId: string, at: Date[]): Promise<void> {
  await superuser.query(
    `INSERT INTO jobs (tenant_id, source, lanes_total, created_at)
     SELECT $1, 'json', 10, c FROM unnest($2::timestamptz[]) AS c`,
    [tenantId, at],
  );
}

const NOW = new Date("2026-12-02T12:00:00Z");
const ago = (hours: number) => new Date(NOW.getTime() - hours * HOUR);

describe("lead signals", () => {
  it("signals tenants with >= 3 quotes or >= 2 bulk jobs in 72 h, once per window, with the evidence", async () => {
    const quoter = await tenant("lead-quoter");
    const bulk = await tenant("lead-bulk", "active");
    const slow = await tenant("lead-slow");
    const canceled = await tenant("lead-canceled", "canceled");
    await quotes(quoter, [ago(70), ago(30), ago(1)]);
    await bulkJobs(bulk, [ago(10), ago(2)]);
    // Three quotes, but one is older than 72 h; and one bulk job.
    await quotes(slow, [ago(80), ago(5), ago(4)]);
    await bulkJobs(slow, [ago(3)]);
    await quotes(canceled, [ago(3), ago(2), ago(1)]);

    const detected = await detectLeadSignals(operator, NOW);
    expect(detected.map((d) => d.tenantId).sort()).toEqual([quoter, bulk].sort());
    expect(detected.find((d) => d.tenantId === quoter)).toMatchObject({
      reason: "quotes",
      quotes: 3,
      bulkJobs: 0,
    });
    expect(detected.find((d) => d.tenantId === bulk)).toMatchObject({ reason: "bulk_jobs", bulkJobs: 2 });
    const evidence = await superuser.query(
      "SELECT first_event_at, last_event_at FROM lead_signals WHERE tenant_id = $1",
      [quoter],
    );
    expect(evidence.rows[0]).toEqual({ first_event_at: ago(70), last_event_at: ago(1) });

    // The same window again, and an hour later with one more quote: no second signal.
    expect(await detectLeadSignals(operator, NOW)).toEqual([]);
    await quotes(quoter, [ago(0.5)]);
    expect(await detectLeadSignals(operator, new Date(NOW.getTime() + HOUR))).toEqual([]);
    // Four days later the tenant is at it again: a new window, a new signal.
    const later = new Date(NOW.getTime() + 96 * HOUR);
    await quotes(quoter, [ago(-95), ago(-94), ago(-93)]);
    expect((await detectLeadSignals(operator, later)).map((d) => d.tenantId)).toEqual([quoter]);
  });

  it("delivers each signal once, signed and with its idempotency key, and keeps all of them through an hour-long CRM outage", async () => {
    const crmConfig = { url: crmUrl, secret: SECRET };
    crmStatus = 503;
    // After the last detection (NOW + 96 h), so every signal is due.
    let clock = new Date(NOW.getTime() + 100 * HOUR);
    const now = () => clock;
    const first = await deliverLeadSignals(operator, crmConfig, { now });
    expect(first.delivered).toBe(0);
    expect(first.failed).toBe(3);
    expect(first.pending).toBe(3);
    // The job runs every 10 minutes for an hour while the CRM is down: each run retries only what its
    // backoff allows, nothing is dropped.
    for (let minute = 10; minute <= 60; minute += 10) {
      clock = new Date(clock.getTime() + 10 * 60_000);
      const run = await deliverLeadSignals(operator, crmConfig, { now });
      expect(run.delivered).toBe(0);
      expect(run.pending).toBe(3);
    }
    crmStatus = 200;
    clock = new Date(clock.getTime() + 60 * 60_000);
    const recovered = await deliverLeadSignals(operator, crmConfig, { now });
    expect(recovered).toEqual({ delivered: 3, failed: 0, pending: 0 });
    // Two concurrent runs afterwards find nothing to send: nothing goes twice.
    const again = await Promise.all([
      deliverLeadSignals(operator, crmConfig, { now }),
      deliverLeadSignals(operator, crmConfig, { now }),
    ]);
    expect(again.map((r) => r.delivered)).toEqual([0, 0]);
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.key)).size).toBe(3);
    for (const r of received) {
      const [t, v1] = r.signature.split(",").map((part) => part.split("=")[1]);
      expect(v1).toBe(createHmac("sha256", SECRET).update(`${t}.${r.raw}`).digest("hex"));
      expect(r.body).toMatchObject({ event: "lead_signal", evidence: { windowStart: expect.any(String) } });
    }
    expect(received.map((r) => r.body.tenant.slug).sort()).toEqual([
      "lead-bulk",
      "lead-quoter",
      "lead-quoter",
    ]);
  });

  it("backs off 1, 2, 4 ... minutes up to an hour", () => {
    expect([1, 2, 3, 4, 7, 8, 20].map(backoffMinutes)).toEqual([1, 2, 4, 8, 60, 60, 60]);
  });

  it("refuses to start without the CRM webhook's URL and secret, naming both", () => {
    expect(() => parseLeadSignalsConfig({ OPERATOR_DATABASE_URL: db.urls.operator })).toThrow(
      /CRM_WEBHOOK_URL[\s\S]*CRM_WEBHOOK_SECRET|CRM_WEBHOOK_SECRET[\s\S]*CRM_WEBHOOK_URL/,
    );
    expect(() =>
      parseLeadSignalsConfig({
        OPERATOR_DATABASE_URL: db.urls.operator,
        CRM_WEBHOOK_URL: "crm",
        CRM_WEBHOOK_SECRET: "x",
      }),
    ).toThrow(/absolute URL[\s\S]*signing secret|signing secret[\s\S]*absolute URL/);
  });
});
