// The PricingModel controller's side of a rollout, for tests and benchmarks that exercise the app:
// writing the pricing_model_splits row as the controller does (freight_operator, one statement), and
// timing how long a change takes to reach each API replica's quotes; and settled bookings for a
// backtest to replay. Shared by the split and backtest tests and `bench:pricing-rollback`.
import type pg from "pg";
import { createPool, withTenant } from "../../app/db/pool.ts";
import { PRICING } from "../../app/pricing/data.ts";
import { QuoteEngine } from "../../app/pricing/engine.ts";
import { findMarket } from "../../app/pricing/markets.ts";
import { priceWithVersion, type ActiveSplit, type PricingVersion } from "../../app/pricing/model-version.ts";
import { apiClient, quoteBody } from "./api-client.ts";

/** Upserts the model's split row (what the controller publishes), as the operators' role. */
export async function publishSplit(
  operator: pg.Pool | pg.Client,
  split: ActiveSplit,
  specHash = `test-${Date.now()}`,
): Promise<void> {
  await operator.query(
    `INSERT INTO pricing_model_splits (model, bucket_version, champion, challenger, challenger_weight, spec_hash, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (model) DO UPDATE SET bucket_version = EXCLUDED.bucket_version, champion = EXCLUDED.champion,
       challenger = EXCLUDED.challenger, challenger_weight = EXCLUDED.challenger_weight,
       spec_hash = EXCLUDED.spec_hash, updated_at = now()`,
    [
      split.model,
      split.bucketVersion,
      JSON.stringify(split.champion),
      split.challenger ? JSON.stringify(split.challenger) : null,
      split.challenger ? split.challengerWeight : 0,
      specHash,
    ],
  );
}

/** The rollback button's effect on the row: the challenger's weight goes to 0 at once. */
export async function rollBackSplit(operator: pg.Pool | pg.Client, model: string): Promise<void> {
  await operator.query(
    "UPDATE pricing_model_splits SET challenger_weight = 0, updated_at = now() WHERE model = $1",
    [model],
  );
}

export interface SplitReach {
  /** Per replica: ms from the change to the first quote priced with `version` there. */
  effectiveMs: number[];
}

/**
 * Runs `change` and quotes on every replica (as the tenant of `apiKey`) until each prices with
 * `version`; a replica that never does within `timeoutMs` reports Infinity.
 */
export async function measureSplitReach(
  urls: string[],
  apiKey: string,
  version: string,
  change: () => Promise<void>,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<SplitReach> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pollMs = options.pollMs ?? 20;
  const started = performance.now();
  const changed = change();
  const effectiveMs = await Promise.all(
    urls.map(async (url) => {
      const client = apiClient(url, apiKey);
      for (;;) {
        const res = await client.post<{ pricingVersion?: string }>("/v1/quotes", quoteBody());
        const at = performance.now() - started;
        if (res.status !== 201)
          throw new Error(`POST /v1/quotes on ${url} answered ${res.status}: ${JSON.stringify(res.body)}`);
        if (res.body.pricingVersion === version) return at;
        if (at > timeoutMs) return Number.POSITIVE_INFINITY;
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }),
  );
  await changed;
  return { effectiveMs };
}

/** The lanes settled bookings are seeded on: one per origin region and equipment group. */
export const SETTLED_LANES = [
  ["Chicago, IL", "Dallas, TX", "dry_van"],
  ["Atlanta, GA", "Miami, FL", "reefer"],
  ["Los Angeles, CA", "Phoenix, AZ", "flatbed"],
] as const;

/**
 * `perLane` settled bookings of the tenant on each of SETTLED_LANES, quoted at `version`'s price,
 * invoiced 10 days ago at that price +-2 % (alternately), carriers paid 90 % of the invoice: what a
 * backtest of `version` should find close to the actuals, with an 11 % margin over carrier cost.
 */
export async function settleBookings(
  appUrl: string,
  tenantId: string,
  version: PricingVersion,
  perLane: number,
): Promise<void> {
  const engine = new QuoteEngine(PRICING);
  const app = createPool(appUrl, 1);
  try {
    await withTenant(app, tenantId, async (c) => {
      for (const [origin, destination, equipment] of SETTLED_LANES) {
        for (let i = 0; i < perLane; i++) {
          const input = {
            origin: findMarket(origin)!,
            destination: findMarket(destination)!,
            equipment,
            weightLbs: 30_000 + i * 500,
            pickupDate: "2026-11-20",
          };
          const total = priceWithVersion(engine.price(input), version, input.origin.region).priced.totalCents;
          const q = await c.query<{ id: string }>(
            `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
               linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
             VALUES (current_tenant_id(), $1, $2, $3, $4, $5, 1, 0, 0, 0, $6, '{"source":"spot"}', $7, now())
             RETURNING id`,
            [origin, destination, equipment, input.weightLbs, input.pickupDate, total, version.name],
          );
          const b = await c.query<{ id: string }>(
            "INSERT INTO bookings (tenant_id, quote_id, total_cents) VALUES (current_tenant_id(), $1, $2) RETURNING id",
            [q.rows[0]!.id, total],
          );
          const invoiced = Math.round(total * (i % 2 ? 1.02 : 0.98));
          await c.query(
            `INSERT INTO invoices (tenant_id, booking_id, actual_rate_cents, carrier_cost_cents, invoice_date)
             VALUES (current_tenant_id(), $1, $2, $3, current_date - 10)`,
            [b.rows[0]!.id, invoiced, Math.round(invoiced * 0.9)],
          );
        }
      }
    });
  } finally {
    await app.end();
  }
}
