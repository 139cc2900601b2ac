// The split reaches every API replica without a restart: three `node app/server.ts` processes on one
// database, the pricing_model_splits row written as the PricingModel controller writes it, and each
// replica's quotes priced with the new version within 5 s: a weight change, a rollback, and a change
// made while every replica's LISTEN connection was cut. Quotes record the version and bucket, show them
// in the breakdown, keep the guardrails and are counted per version in /metrics.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { startApiReplicas, type ApiReplicas } from "../../tools/platform/api-replicas.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { measureSplitReach, publishSplit, rollBackSplit } from "../../tools/platform/pricing-rollout.ts";
import { createPool } from "../db/pool.ts";
import { PRICING } from "./data.ts";
import { tenantBucket, type ActiveSplit, type PricingVersion } from "./model-version.ts";
import { DEFAULT_PRICING_MODEL } from "./pricing-splits.ts";

let db: TestDatabase;
let replicas: ApiReplicas;
let operator: pg.Pool;
let owner: pg.Client;
let apiKey: string;
let tenantId: string;

const MODEL = DEFAULT_PRICING_MODEL;
const version = (name: string, overrides: Partial<PricingVersion> = {}): PricingVersion => ({
  name,
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8 },
  ...overrides,
});
const split = (challengerWeight: number, challenger = version("v2")): ActiveSplit => ({
  model: MODEL,
  bucketVersion: 1,
  champion: version("v1"),
  challenger,
  challengerWeight,
});

async function listeners(): Promise<number> {
  const { rows } = await owner.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN pricing_split_changed%'",
  );
  return rows[0].n;
}

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  replicas = await startApiReplicas(db.urls.app, 3);
  operator = createPool(db.urls.operator, 2);
  const inAppDatabase = new URL(db.urls.superuser);
  inAppDatabase.pathname = new URL(db.urls.owner).pathname;
  owner = new pg.Client({ connectionString: inAppDatabase.toString() });
  await owner.connect();
  apiKey = db.demoKeys["acme-logistics"]!;
  tenantId = (await owner.query("SELECT id FROM tenants WHERE slug = 'acme-logistics'")).rows[0].id;
  for (let i = 0; (await listeners()) < 3; i++) {
    if (i > 100) throw new Error("the replicas did not LISTEN on pricing_split_changed within 10 s");
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);
afterAll(async () => {
  await owner?.end();
  await operator?.end();
  await replicas?.stop();
  await db?.stop();
});

const within5s = (reach: { effectiveMs: number[] }) => {
  expect(reach.effectiveMs).toHaveLength(3);
  for (const ms of reach.effectiveMs) expect(ms).toBeLessThanOrEqual(5000);
};

describe("the pricing split on every replica", () => {
  it("prices with the engine's version while the model has no split row", async () => {
    const res = await apiClient(replicas.urls[0]!, apiKey).post<{ pricingVersion: string }>(
      "/v1/quotes",
      quoteBody(),
    );
    expect(res.status).toBe(201);
    expect(res.body.pricingVersion).toBe(PRICING.version);
  });

  it("moves the tenant to the challenger on every replica within 5 s of a weight change, and back on rollback", async () => {
    within5s(await measureSplitReach(replicas.urls, apiKey, "v1", () => publishSplit(operator, split(0))));
    within5s(await measureSplitReach(replicas.urls, apiKey, "v2", () => publishSplit(operator, split(100))));
    within5s(await measureSplitReach(replicas.urls, apiKey, "v1", () => rollBackSplit(operator, MODEL)));
  });

  it("reads a change made while the replicas' LISTEN connections were cut, once they listen again", async () => {
    await publishSplit(operator, split(0));
    const reach = await measureSplitReach(replicas.urls, apiKey, "v2", async () => {
      const { rowCount } = await owner.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN pricing_split_changed%'",
      );
      expect(rowCount).toBe(3);
      // Nobody listens now: no notification of this change reaches a replica.
      await publishSplit(operator, split(100));
    });
    within5s(reach);
    for (let i = 0; (await listeners()) < 3; i++) {
      if (i > 50) throw new Error("the replicas did not LISTEN again within 5 s");
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it("records the version and bucket on the quote and shows them in the breakdown", async () => {
    await publishSplit(operator, split(100));
    const client = apiClient(replicas.urls[1]!, apiKey);
    await measureSplitReach([replicas.urls[1]!], apiKey, "v2", async () => undefined);
    const res = await client.post<{ id: string; pricingVersion: string; breakdown: Record<string, unknown> }>(
      "/v1/quotes",
      quoteBody(),
    );
    const bucket = tenantBucket(MODEL, 1, tenantId);
    expect(res.body.breakdown).toMatchObject({
      pricingVersion: "v2",
      pricingModel: MODEL,
      pricingBucket: bucket,
    });
    const stored = await owner.query(
      "SELECT pricing_version, pricing_model, pricing_bucket FROM quotes WHERE id = $1",
      [res.body.id],
    );
    expect(stored.rows[0]).toEqual({ pricing_version: "v2", pricing_model: MODEL, pricing_bucket: bucket });
    const read = await client.get<{ breakdown: Record<string, unknown> }>(`/v1/quotes/${res.body.id}`);
    expect(read.body.breakdown).toMatchObject({ pricingVersion: "v2", pricingBucket: bucket });
  });

  it("never quotes below the version's margin floor, and clamps to its regional cap", async () => {
    const thin = version("thin", {
      coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.01 },
      guardrails: { minMarginPercent: 12 },
    });
    const client = apiClient(replicas.urls[2]!, apiKey);
    await measureSplitReach([replicas.urls[2]!], apiKey, "thin", () =>
      publishSplit(operator, split(100, thin)),
    );
    type Quote = { distanceMiles: number; totalCents: number; breakdown: Record<string, number | boolean> };
    const floored = (await client.post<Quote>("/v1/quotes", quoteBody())).body;
    const cost =
      (floored.breakdown.linehaulCents as number) + (floored.breakdown.fuelSurchargeCents as number);
    expect(floored.breakdown.marginCents).toBe(Math.ceil((cost * 12) / 100));
    expect(floored.breakdown.raisedToFloor).toBe(true);

    // Chicago is in the midwest: a cap there at 10 % over cost per mile lowers the 15 % margin to it.
    const capPerMile = Math.floor((cost * 1.1) / floored.distanceMiles);
    const capped = version("capped", {
      guardrails: { minMarginPercent: 5, regionalCaps: [{ region: "midwest", maxCentsPerMile: capPerMile }] },
    });
    await measureSplitReach([replicas.urls[2]!], apiKey, "capped", () =>
      publishSplit(operator, split(100, capped)),
    );
    const clamped = (await client.post<Quote>("/v1/quotes", quoteBody())).body;
    expect(clamped.totalCents).toBe(capPerMile * clamped.distanceMiles);
    expect(clamped.breakdown).toMatchObject({ clampedByCap: true, capBreached: false });
  });

  it("counts quotes and margin per version in /metrics", async () => {
    const metrics = await (await fetch(`${replicas.urls[2]}/metrics`)).text();
    expect(metrics).toMatch(/pricing_version_quotes_total\{model="spot",version="capped"\} [1-9]/);
    expect(metrics).toMatch(/pricing_version_margin_percent_count\{model="spot",version="thin"\} [1-9]/);
  });
});
