import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PRICING } from "./data.ts";
import { QuoteEngine } from "./engine.ts";
import { findMarket } from "./markets.ts";
import { assignVersion, priceWithVersion, type ActiveSplit, type PricingVersion } from "./model-version.ts";

const v = (name: string, overrides: Partial<PricingVersion> = {}): PricingVersion => ({
  name,
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8 },
  ...overrides,
});

const split = (challengerWeight: number, bucketVersion = 1): ActiveSplit => ({
  model: "spot",
  bucketVersion,
  champion: v("v1"),
  challenger: v("v2"),
  challengerWeight,
});

describe("sticky assignment by tenant", () => {
  // A fixed population (UUID-shaped ids from a counter), so the share is the same on every run: with
  // random ids a 50 % split over 10,000 tenants misses +-1 pp about once in 20 runs.
  const tenants = Array.from({ length: 10_000 }, (_, i) =>
    createHash("sha256")
      .update(`tenant-${i}`)
      .digest("hex")
      .slice(0, 32)
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5"),
  );
  const onChallenger = (s: ActiveSplit) => tenants.filter((t) => assignVersion(s, t).version.name === "v2");

  it("puts the weight's share of 10,000 tenants on the challenger, within 1 percentage point", () => {
    for (const weight of [10, 50]) {
      const share = (onChallenger(split(weight)).length / tenants.length) * 100;
      expect(Math.abs(share - weight)).toBeLessThanOrEqual(1);
    }
  });

  it("keeps a tenant's version as the weight grows, and re-randomises on a new bucket version", () => {
    const at10 = new Set(onChallenger(split(10)));
    const at50 = new Set(onChallenger(split(50)));
    expect([...at10].every((t) => at50.has(t))).toBe(true);
    const reshuffled = new Set(onChallenger(split(10, 2)));
    const kept = [...at10].filter((t) => reshuffled.has(t)).length;
    // Independent draws keep about 10 % of the 10 % (100 tenants), far from all 1,000.
    expect(kept).toBeLessThan(at10.size / 2);
    expect(assignVersion(split(10), tenants[0]!)).toEqual(assignVersion(split(10), tenants[0]!));
  });
});

describe("pricing with a version's coefficients and guardrails", () => {
  const engine = new QuoteEngine(PRICING);
  const base = engine.price({
    origin: findMarket("Los Angeles, CA")!,
    destination: findMarket("Phoenix, AZ")!,
    equipment: "dry_van",
    weightLbs: 30_000,
    pickupDate: "2026-12-10",
  });

  it("applies the multipliers and records the version", () => {
    const { priced } = priceWithVersion(
      base,
      v("v2", { coefficients: { linehaulMultiplier: 1.1, fuelSurchargeMultiplier: 1, marginRate: 0.1 } }),
      "west_coast",
    );
    expect(priced.linehaulCents).toBe(Math.round(base.linehaulCents * 1.1));
    expect(priced.marginCents).toBe(Math.round((priced.linehaulCents + priced.fuelSurchargeCents) * 0.1));
    expect(priced.pricingVersion).toBe("v2");
  });

  it("never quotes below the margin floor", () => {
    const thin = priceWithVersion(
      base,
      v("v2", { coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.02 } }),
      "west_coast",
    );
    const cost = thin.priced.linehaulCents + thin.priced.fuelSurchargeCents;
    expect(thin.raisedToFloor).toBe(true);
    expect(thin.priced.marginCents).toBe(Math.ceil(cost * 0.08));
  });

  it("clamps to the regional cap, unless that would cut into the floor (then counted as a breach)", () => {
    const cost = base.linehaulCents + base.fuelSurchargeCents;
    const capPerMile = Math.floor((cost * 1.1) / base.distanceMiles);
    const capped = priceWithVersion(
      base,
      v("v2", {
        guardrails: {
          minMarginPercent: 5,
          regionalCaps: [{ region: "west_coast", maxCentsPerMile: capPerMile }],
        },
      }),
      "west_coast",
    );
    expect(capped.clampedByCap).toBe(true);
    expect(capped.priced.totalCents).toBe(capPerMile * base.distanceMiles);
    const elsewhere = priceWithVersion(
      base,
      v("v2", {
        guardrails: {
          minMarginPercent: 5,
          regionalCaps: [{ region: "northeast", maxCentsPerMile: capPerMile }],
        },
      }),
      "west_coast",
    );
    expect(elsewhere.clampedByCap).toBe(false);
    const conflict = priceWithVersion(
      base,
      v("v2", {
        guardrails: {
          minMarginPercent: 20,
          regionalCaps: [{ region: "west_coast", maxCentsPerMile: capPerMile }],
        },
      }),
      "west_coast",
    );
    expect(conflict).toMatchObject({ clampedByCap: false, capBreached: true });
    expect(conflict.priced.marginCents).toBeGreaterThanOrEqual(Math.ceil(cost * 0.2));
  });
});
