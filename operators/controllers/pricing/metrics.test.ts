import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../../app/db/pool.ts";
import { provisionTenant } from "../../../app/db/seed.ts";
import { seedSettledQuotes } from "../../../tools/platform/settled-quotes.ts";
import { startTestDatabase, type TestDatabase } from "../../../tools/postgres/test-database.ts";
import { decide } from "./decide.ts";
import { observeVersions } from "./metrics.ts";
import type { PricingModelSpec } from "../../api/pricingmodel.ts";

let db: TestDatabase;
let app: pg.Pool;
let operator: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "plans" });
  app = createPool(db.urls.app, 2);
  operator = createPool(db.urls.operator, 2);
});
afterAll(async () => {
  await Promise.all([app?.end(), operator?.end()]);
  await db?.stop();
});

const quotes = (tenantId: string, version: string, count: number, settled: number, drift: number) =>
  seedSettledQuotes(app, tenantId, version, { count, settled, drift });

const spec: PricingModelSpec = {
  versions: ["v1", "v2", "v3", "v4"].map((name) => ({
    name,
    coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
    guardrails: { minMarginPercent: 8 },
  })),
  aliases: { champion: "v1", challenger: "v2" },
  steps: [{ weights: { champion: 90, challenger: 10 }, analysis: { minSamples: 20 } }],
};

describe("rollout metrics from settled actuals", () => {
  it("measures each version's variance and margin from PostgreSQL; a drifting challenger is rolled back", async () => {
    const t = await provisionTenant(operator, { slug: "pm-a", name: "A", planId: "pro" });
    await quotes(t.tenantId, "v1", 270, 40, 0.03);
    await quotes(t.tenantId, "v2", 30, 25, 0.15);
    const observed = await observeVersions(operator, { champion: "v1", challenger: "v2" }, 28);
    expect(observed.champion).toMatchObject({ quotes: 270, samples: 40, capBreaches: 0 });
    expect(observed.champion.absVariancePercent).toBeCloseTo(3, 1);
    expect(observed.challenger.absVariancePercent).toBeCloseTo(15, 1);
    expect(observed.challenger.marginPercent).toBeCloseTo(100 / 0.87 - 100, 0);
    const started = decide(spec, {}, { now: new Date() });
    const verdict = decide(spec, started, { now: new Date(), metrics: observed });
    expect(verdict).toMatchObject({ phase: "RolledBack", weights: { challenger: 0 } });
    expect(verdict.rollback?.reason).toMatch(/absolute variance vs actuals 15.00 % > 10 %/);
  });

  it("promotes a challenger within the variance bound", async () => {
    const t = await provisionTenant(operator, { slug: "pm-b", name: "B", planId: "pro" });
    await quotes(t.tenantId, "v4", 270, 40, 0.03);
    await quotes(t.tenantId, "v3", 30, 25, 0.04);
    const good = { ...spec, aliases: { champion: "v4", challenger: "v3" } };
    const observed = await observeVersions(operator, { champion: "v4", challenger: "v3" }, 28);
    const started = decide(good, {}, { now: new Date() });
    expect(decide(good, started, { now: new Date(), metrics: observed })).toMatchObject({
      phase: "Promoted",
      weights: { challenger: 100 },
    });
  });
});
