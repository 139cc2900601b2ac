import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { createPool } from "./pool.ts";
import {
  createQuote,
  createQuotes,
  QuoteWriter,
  type CreatedQuoteRow,
  type QuoteWrite,
} from "./quote-writes.ts";
import { provisionTenant } from "./seed.ts";

let db: TestDatabase;
let app: pg.Pool;
let operator: pg.Pool;
const statements: string[] = [];

beforeAll(async () => {
  db = await startTestDatabase({ seed: "plans" });
  app = createPool(db.urls.app, 8);
  operator = createPool(db.urls.operator, 2);
  // Which statements reach the database: the grouping is what this file is about.
  const query = app.query.bind(app) as (...args: unknown[]) => unknown;
  (app as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const config = args[0] as { name?: string };
    statements.push(config.name ?? "unnamed");
    return query(...args);
  };
});
afterAll(async () => {
  await app?.end();
  await operator?.end();
  await db?.stop();
});

async function tenantWithCeiling(slug: string, ceiling: number): Promise<string> {
  const { tenantId } = await provisionTenant(operator, { slug, name: slug, planId: "starter" });
  await operator.query(
    "UPDATE entitlements SET included = $2, hard_ceiling = $2 WHERE tenant_id = $1 AND meter = 'quotes'",
    [tenantId, ceiling],
  );
  return tenantId;
}

function quoteFor(tenantId: string, overrides: Partial<QuoteWrite> = {}): QuoteWrite {
  return {
    tenantId,
    origin: "Chicago, IL",
    destination: "Dallas, TX",
    equipment: "dry_van",
    weightLbs: 30_000,
    pickupDate: "2027-01-15",
    distanceMiles: 925,
    linehaulCents: 180_000,
    fuelSurchargeCents: 30_000,
    marginCents: 25_000,
    totalCents: 235_000,
    breakdown: "{}",
    pricingVersion: "test",
    ...overrides,
  };
}

async function storedAndCounted(tenantId: string): Promise<{ quotes: number; used: number }> {
  const ops = createPool(db.urls.ops, 1);
  try {
    const { rows } = await ops.query(
      `SELECT (SELECT count(*)::int FROM quotes WHERE tenant_id = $1) AS quotes,
              (SELECT coalesce(sum(used), 0)::int FROM usage_counters WHERE tenant_id = $1 AND meter = 'quotes') AS used`,
      [tenantId],
    );
    return rows[0];
  } finally {
    await ops.end();
  }
}

describe("QuoteWriter", () => {
  it("sends a quote alone when nothing else is waiting", async () => {
    const tenant = await tenantWithCeiling("alone", 10);
    const writer = new QuoteWriter(app, { metered: true, ttlMinutes: 30, lanes: 2, maxBatch: 64 });
    statements.length = 0;
    const row = await writer.write(quoteFor(tenant));
    expect(row.quote_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(row.used_after).toBe(1);
    expect(statements).toEqual(["create-quote"]);
  });

  it("groups a burst into few statements, counting each tenant exactly and in arrival order", async () => {
    const tight = await tenantWithCeiling("tight", 20);
    const roomy = await tenantWithCeiling("roomy", 1_000);
    const writer = new QuoteWriter(app, { metered: true, ttlMinutes: 30, lanes: 1, maxBatch: 64 });
    statements.length = 0;
    // 50 quotes for a tenant with 20 left, interleaved with 30 for a tenant far from its ceiling.
    const sent: Array<{ tenant: string; answer: Promise<CreatedQuoteRow> }> = [];
    for (let i = 0; i < 80; i++) {
      const tenant = i % 8 < 5 ? tight : roomy;
      sent.push({ tenant, answer: writer.write(quoteFor(tenant)) });
    }
    const answers = await Promise.all(sent.map(async (s) => ({ tenant: s.tenant, row: await s.answer })));

    // One quote went at once, the 79 that queued behind it went in two statements.
    expect(statements).toEqual(["create-quote", "create-quotes", "create-quotes"]);

    const tightAnswers = answers.filter((a) => a.tenant === tight).map((a) => a.row);
    expect(tightAnswers).toHaveLength(50);
    // The first 20 in arrival order are admitted with the counts they would have had one by one...
    expect(tightAnswers.slice(0, 20).map((row) => row.used_after)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(tightAnswers.slice(0, 20).every((row) => row.quote_id !== null)).toBe(true);
    // ...and every later one is refused with the figures that caused it: 20 used of 20, nothing stored.
    for (const row of tightAnswers.slice(20)) {
      expect(row.quote_id).toBeNull();
      expect(row.used_after).toBeNull();
      expect(row.used_before).toBe(20);
      expect(row.hard_ceiling).toBe(20);
    }
    const roomyAnswers = answers.filter((a) => a.tenant === roomy).map((a) => a.row);
    expect(roomyAnswers.map((row) => row.used_after)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    expect(await storedAndCounted(tight)).toEqual({ quotes: 20, used: 20 });
    expect(await storedAndCounted(roomy)).toEqual({ quotes: 30, used: 30 });
  });

  it("fails only the quote the database refuses, and stores the rest of its batch once", async () => {
    const tenant = await tenantWithCeiling("one-bad", 100);
    const writer = new QuoteWriter(app, { metered: true, ttlMinutes: 30, lanes: 1, maxBatch: 64 });
    statements.length = 0;
    const answers = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        // The seventh breaks the quotes table's check on weight.
        writer.write(quoteFor(tenant, i === 6 ? { weightLbs: -1 } : {})),
      ),
    );
    expect(answers.filter((a) => a.status === "rejected")).toHaveLength(1);
    const refused = answers[6] as PromiseRejectedResult;
    expect(refused.status).toBe("rejected");
    expect(String(refused.reason)).toMatch(/check constraint/);
    expect(statements.filter((name) => name === "create-quotes")).toHaveLength(1);
    expect(await storedAndCounted(tenant)).toEqual({ quotes: 11, used: 11 });
  });

  it("never deadlocks when concurrent batches share tenants in different orders", async () => {
    const tenants = await Promise.all(
      ["d1", "d2", "d3", "d4"].map((slug) => tenantWithCeiling(slug, 10_000)),
    );
    const writer = new QuoteWriter(app, { metered: true, ttlMinutes: 30, lanes: 4, maxBatch: 16 });
    const writes = Array.from({ length: 400 }, (_, i) =>
      writer.write(quoteFor(tenants[(i * 7 + Math.floor(i / 5)) % 4] as string)),
    );
    const rows = await Promise.all(writes);
    expect(rows.every((row) => row.quote_id !== null)).toBe(true);
    const counted = await Promise.all(tenants.map((tenant) => storedAndCounted(tenant)));
    expect(counted.reduce((sum, c) => sum + c.used, 0)).toBe(400);
    for (const c of counted) expect(c.quotes).toBe(c.used);
  });

  it("answers a batch with exactly the figures the same quotes get one by one", async () => {
    const figures = (row: CreatedQuoteRow) => ({
      has_entitlement: row.has_entitlement,
      stored: row.quote_id !== null,
      included: row.included,
      hard_ceiling: row.hard_ceiling,
      used_after: row.used_after,
      used_before: row.used_before,
    });
    const options = { metered: true, ttlMinutes: 30 };
    // From a fresh usage row, under the ceiling, and across it.
    for (const [count, ceiling] of [
      [5, 50],
      [12, 7],
    ] as const) {
      const alone = await tenantWithCeiling(`alone-${count}`, ceiling);
      const batched = await tenantWithCeiling(`batched-${count}`, ceiling);
      const oneByOne: CreatedQuoteRow[] = [];
      for (let i = 0; i < count; i++) oneByOne.push(await createQuote(app, quoteFor(alone), options));
      const together = await createQuotes(
        app,
        Array.from({ length: count }, () => quoteFor(batched)),
        options,
      );
      expect(together.map(figures)).toEqual(oneByOne.map(figures));
      expect(await storedAndCounted(batched)).toEqual(await storedAndCounted(alone));
    }
  });

  it("stores without counting when metering is off, and stores nothing without an entitlement", async () => {
    const unmetered = await tenantWithCeiling("unmetered", 1);
    const rows = await createQuotes(app, [quoteFor(unmetered), quoteFor(unmetered)], {
      metered: false,
      ttlMinutes: 30,
    });
    expect(rows.map((row) => [row.has_entitlement, row.quote_id !== null, row.used_after])).toEqual([
      [true, true, null],
      [true, true, null],
    ]);
    expect(await storedAndCounted(unmetered)).toEqual({ quotes: 2, used: 0 });

    const unentitled = await tenantWithCeiling("unentitled", 10);
    await operator.query("DELETE FROM entitlements WHERE tenant_id = $1 AND meter = 'quotes'", [unentitled]);
    const refused = await createQuotes(app, [quoteFor(unentitled), quoteFor(unmetered)], {
      metered: true,
      ttlMinutes: 30,
    });
    expect(refused.map((row) => row.has_entitlement)).toEqual([false, true]);
    expect(refused[0]?.quote_id).toBeNull();
    expect(await storedAndCounted(unentitled)).toEqual({ quotes: 0, used: 0 });
  });
});
