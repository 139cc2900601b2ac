// The backtest of a PricingModel version: the settled bookings of the last weeks (invoices with the
// carrier's cost, migration 0020) replayed through the version's coefficients and guardrails exactly
// as a live quote would be priced (the engine, then priceWithVersion), compared with what was invoiced
// and what the carrier was paid, per origin region and equipment. It fails on the rollout's own
// success conditions: mean absolute variance vs invoiced above the model's limit (10 % by default),
// margin over carrier cost under the version's floor, or any regional-cap breach. Each run is stored
// in pricing_backtests (migration 0027); latestBacktest is how a promotion asks for a passing one.
import { createHash } from "node:crypto";
import type pg from "pg";
import { ANALYSIS_DEFAULTS, type PricingModel } from "../../operators/api/pricingmodel.ts";
import type { Equipment } from "./data.ts";
import type { QuoteEngine } from "./engine.ts";
import { findMarket, type RateRegion } from "./markets.ts";
import { priceWithVersion, type PricingVersion } from "./model-version.ts";

/** A settled booking as replayed: the lane that was quoted, and the money that moved. */
export interface SettledBooking {
  origin: string;
  destination: string;
  equipment: Equipment;
  weightLbs: number;
  pickupDate: string;
  invoicedCents: number;
  carrierCostCents: number;
}

export interface BacktestFigures {
  samples: number;
  /** Mean of |invoiced - replayed| / replayed, percent: the rollout analysis's variance. */
  absVariancePercent: number;
  /** Mean of (invoiced - replayed) / replayed, percent: the direction of the drift. */
  meanVariancePercent: number;
  /** (replayed - carrier cost) / carrier cost over all samples, percent. */
  marginPercent: number;
  /** Bookings the version would have quoted above a regional cap (the floor kept them there). */
  capBreaches: number;
}

export interface BacktestGroup extends BacktestFigures {
  region: RateRegion;
  equipment: Equipment;
}

export interface BacktestResult extends BacktestFigures {
  model: string;
  version: string;
  versionChecksum: string;
  weeks: number;
  windowStart: string;
  windowEnd: string;
  /** Settled bookings that could not be replayed (a market no longer priced), left out. */
  skipped: number;
  groups: BacktestGroup[];
  passed: boolean;
  failures: string[];
}

export class BacktestError extends Error {
  override name = "BacktestError";
}

/** sha256 of the version's content with keys in a fixed order: what exactly was backtested. */
export function versionChecksum(version: PricingVersion): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value !== null && typeof value === "object"
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
          )
        : value;
  return createHash("sha256")
    .update(JSON.stringify(canonical(version)))
    .digest("hex");
}

/** The version `name` of a PricingModel as the app prices with it, or an error listing the versions. */
export function modelVersion(model: PricingModel, name: string): PricingVersion {
  const found = model.spec.versions.find((v) => v.name === name);
  if (!found) {
    throw new BacktestError(
      `PricingModel ${model.metadata.name} has no version '${name}'; its versions are ${model.spec.versions.map((v) => v.name).join(", ")}`,
    );
  }
  return { name: found.name, coefficients: found.coefficients, guardrails: found.guardrails };
}

/** The version a scheduled run backtests: the challenger under test, else the champion serving. */
export function scheduledVersion(model: PricingModel): string {
  return model.spec.aliases.challenger ?? model.spec.aliases.champion;
}

/** The first and last invoice day of a window of `weeks` ending on `today` (UTC days). */
export function backtestWindow(weeks: number, now: Date): { start: string; end: string } {
  const end = now.toISOString().slice(0, 10);
  const start = new Date(Date.parse(`${end}T00:00:00Z`) - (weeks * 7 - 1) * 86_400_000)
    .toISOString()
    .slice(0, 10);
  return { start, end };
}

/** Settled bookings invoiced in the window, across tenants (as the operators' role); contract rates left out. */
export async function settledBookings(
  pool: pg.Pool,
  window: { start: string; end: string },
): Promise<SettledBooking[]> {
  const { rows } = await pool.query<SettledBooking>(
    // A contract rate is the tenant's agreed price: no model priced it, so no model is tested on it.
    `SELECT q.origin, q.destination, q.equipment, q.weight_lbs AS "weightLbs",
            to_char(q.pickup_date, 'YYYY-MM-DD') AS "pickupDate",
            i.actual_rate_cents AS "invoicedCents", i.carrier_cost_cents AS "carrierCostCents"
       FROM invoices i
       JOIN bookings b ON b.id = i.booking_id
       JOIN quotes q ON q.id = b.quote_id
      WHERE i.carrier_cost_cents IS NOT NULL AND i.invoice_date BETWEEN $1::date AND $2::date
        AND coalesce(q.breakdown ->> 'source', 'spot') <> 'contract'`,
    [window.start, window.end],
  );
  return rows;
}

interface Tally {
  samples: number;
  absVariance: number;
  variance: number;
  replayed: number;
  carrierCost: number;
  capBreaches: number;
}

const emptyTally = (): Tally => ({
  samples: 0,
  absVariance: 0,
  variance: 0,
  replayed: 0,
  carrierCost: 0,
  capBreaches: 0,
});

const round2 = (n: number) => Math.round(n * 100) / 100;

function figures(t: Tally): BacktestFigures {
  return {
    samples: t.samples,
    absVariancePercent: round2((100 * t.absVariance) / t.samples),
    meanVariancePercent: round2((100 * t.variance) / t.samples),
    marginPercent: round2(t.carrierCost > 0 ? (100 * (t.replayed - t.carrierCost)) / t.carrierCost : 0),
    capBreaches: t.capBreaches,
  };
}

/**
 * Replays `bookings` through `version` and judges the result. Pure: the same bookings and version
 * always give the same verdict. `maxAbsVariancePercent` is the model's analysis limit.
 */
export function runBacktest(
  engine: QuoteEngine,
  target: { model: string; version: PricingVersion; maxAbsVariancePercent: number },
  bookings: SettledBooking[],
  window: { weeks: number; start: string; end: string },
): BacktestResult {
  const total = emptyTally();
  const groups = new Map<string, { region: RateRegion; equipment: Equipment; tally: Tally }>();
  let skipped = 0;
  for (const booking of bookings) {
    const origin = findMarket(booking.origin);
    const destination = findMarket(booking.destination);
    if (!origin || !destination || origin === destination) {
      skipped++;
      continue;
    }
    const base = engine.price({
      origin,
      destination,
      equipment: booking.equipment,
      weightLbs: booking.weightLbs,
      pickupDate: booking.pickupDate,
    });
    const { priced, capBreached } = priceWithVersion(base, target.version, origin.region);
    const key = `${origin.region}|${booking.equipment}`;
    const group = groups.get(key) ?? {
      region: origin.region,
      equipment: booking.equipment,
      tally: emptyTally(),
    };
    groups.set(key, group);
    const variance = (booking.invoicedCents - priced.totalCents) / priced.totalCents;
    for (const t of [total, group.tally]) {
      t.samples++;
      t.variance += variance;
      t.absVariance += Math.abs(variance);
      t.replayed += priced.totalCents;
      t.carrierCost += booking.carrierCostCents;
      if (capBreached) t.capBreaches++;
    }
  }
  if (total.samples === 0) {
    throw new BacktestError(
      `No settled bookings to replay between ${window.start} and ${window.end}${skipped ? ` (${skipped} on markets no longer priced)` : ""}: ` +
        "import settlements (POST /v1/settlements or the CSV import) or widen --weeks",
    );
  }
  const overall = figures(total);
  const floor = target.version.guardrails.minMarginPercent;
  const failures = [
    ...(overall.absVariancePercent > target.maxAbsVariancePercent
      ? [
          `mean absolute variance vs invoiced is ${overall.absVariancePercent} % (limit ${target.maxAbsVariancePercent} %)`,
        ]
      : []),
    ...(overall.marginPercent < floor
      ? [`margin over carrier cost is ${overall.marginPercent} % (floor ${floor} %)`]
      : []),
    ...(overall.capBreaches > 0
      ? [
          `${overall.capBreaches} bookings would be quoted above their regional cap (the margin floor kept them there)`,
        ]
      : []),
  ];
  return {
    model: target.model,
    version: target.version.name,
    versionChecksum: versionChecksum(target.version),
    weeks: window.weeks,
    windowStart: window.start,
    windowEnd: window.end,
    ...overall,
    skipped,
    groups: [...groups.values()]
      .map((g) => ({ region: g.region, equipment: g.equipment, ...figures(g.tally) }))
      .sort((a, b) => a.region.localeCompare(b.region) || a.equipment.localeCompare(b.equipment)),
    passed: failures.length === 0,
    failures,
  };
}

/** The model's variance limit, as its rollout analysis uses it. */
export function varianceLimit(model: PricingModel): number {
  return model.spec.analysis?.maxAbsVariancePercent ?? ANALYSIS_DEFAULTS.maxAbsVariancePercent;
}

export async function storeBacktest(pool: pg.Pool, result: BacktestResult): Promise<void> {
  await pool.query(
    `INSERT INTO pricing_backtests (model, version, version_checksum, weeks, window_start, window_end, samples,
       abs_variance_percent, margin_percent, cap_breaches, passed, failures, groups)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      result.model,
      result.version,
      result.versionChecksum,
      result.weeks,
      result.windowStart,
      result.windowEnd,
      result.samples,
      result.absVariancePercent,
      result.marginPercent,
      result.capBreaches,
      result.passed,
      result.failures,
      JSON.stringify(result.groups),
    ],
  );
}

export interface StoredBacktest {
  model: string;
  version: string;
  versionChecksum: string;
  weeks: number;
  windowStart: string;
  windowEnd: string;
  samples: number;
  absVariancePercent: number;
  marginPercent: number;
  capBreaches: number;
  passed: boolean;
  failures: string[];
  groups: BacktestGroup[];
  ranAt: Date;
}

/**
 * The latest stored backtest of `model`'s `version`, or undefined when it was never backtested. A
 * promotion should also compare `versionChecksum` with the version it promotes and look at `ranAt`.
 */
export async function latestBacktest(
  pool: pg.Pool,
  model: string,
  version: string,
): Promise<StoredBacktest | undefined> {
  const { rows } = await pool.query<StoredBacktest>(
    `SELECT model, version, version_checksum AS "versionChecksum", weeks,
            to_char(window_start, 'YYYY-MM-DD') AS "windowStart", to_char(window_end, 'YYYY-MM-DD') AS "windowEnd",
            samples, abs_variance_percent::float8 AS "absVariancePercent", margin_percent::float8 AS "marginPercent",
            cap_breaches AS "capBreaches", passed, failures, groups, ran_at AS "ranAt"
       FROM pricing_backtests WHERE model = $1 AND version = $2
      ORDER BY ran_at DESC LIMIT 1`,
    [model, version],
  );
  return rows[0];
}

/** The result as a person reads it in the job's log. */
export function formatBacktest(result: BacktestResult): string {
  const pct = (n: number) => `${n.toFixed(2)} %`;
  const lines = [
    `Backtest of ${result.model} version ${result.version} (sha256 ${result.versionChecksum.slice(0, 12)}), ` +
      `${result.samples} settled bookings invoiced ${result.windowStart} to ${result.windowEnd} (${result.weeks} weeks)` +
      (result.skipped ? `, ${result.skipped} skipped (markets no longer priced)` : ""),
    `  overall: |variance| ${pct(result.absVariancePercent)}, variance ${pct(result.meanVariancePercent)}, margin ${pct(result.marginPercent)}, cap breaches ${result.capBreaches}`,
    ...result.groups.map(
      (g) =>
        `  ${g.region.padEnd(13)} ${g.equipment.padEnd(8)} n=${String(g.samples).padEnd(5)} |variance| ${pct(g.absVariancePercent).padStart(8)}  variance ${pct(g.meanVariancePercent).padStart(9)}  margin ${pct(g.marginPercent).padStart(8)}  cap breaches ${g.capBreaches}`,
    ),
    result.passed ? "PASS: every guardrail holds." : `FAIL: ${result.failures.join("; ")}`,
  ];
  return lines.join("\n");
}
