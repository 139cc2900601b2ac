import { describe, expect, it } from "vitest";
import { PRICING } from "./data.ts";
import { QuoteEngine, greatCircleMiles } from "./engine.ts";
import { findMarket, MARKETS } from "./markets.ts";

const market = (name: string) => {
  const found = findMarket(name);
  if (!found) throw new Error(name);
  return found;
};
const chicago = market("Chicago, IL");
const dallas = market("Dallas, TX");

describe("quote engine", () => {
  it("prices the same lane the same way every time, with a breakdown that adds up", () => {
    const input = {
      origin: chicago,
      destination: dallas,
      equipment: "dry_van" as const,
      weightLbs: 38_000,
      pickupDate: "2026-12-10",
    };
    const a = new QuoteEngine(PRICING).price(input);
    const b = new QuoteEngine(PRICING).price(input);
    expect(a).toEqual(b);
    expect(a.totalCents).toBe(a.linehaulCents + a.fuelSurchargeCents + a.marginCents);
    // Chicago -> Dallas is about 800 road miles.
    expect(a.distanceMiles).toBeGreaterThan(750);
    expect(a.distanceMiles).toBeLessThan(1000);
    expect(a.pricingVersion).toBe(PRICING.version);
  });

  it("charges more for reefer than dry van, for heavy loads, and in the peak season", () => {
    const engine = new QuoteEngine(PRICING);
    const base = { origin: chicago, destination: dallas, weightLbs: 30_000, pickupDate: "2026-02-10" };
    const dryVan = engine.price({ ...base, equipment: "dry_van" });
    const reefer = engine.price({ ...base, equipment: "reefer" });
    expect(reefer.linehaulCents).toBeGreaterThan(dryVan.linehaulCents);
    const heavy = engine.price({ ...base, equipment: "dry_van", weightLbs: 44_000 });
    expect(heavy.linehaulCents).toBeGreaterThan(dryVan.linehaulCents);
    const december = engine.price({ ...base, equipment: "dry_van", pickupDate: "2026-12-10" });
    expect(december.seasonalityIndex).toBeGreaterThan(dryVan.seasonalityIndex);
    expect(december.totalCents).toBeGreaterThan(dryVan.totalCents);
  });

  it("applies the minimum linehaul on short hauls", () => {
    const engine = new QuoteEngine(PRICING);
    const q = engine.price({
      origin: market("Dallas, TX"),
      destination: market("Fort Worth, TX"),
      equipment: "dry_van",
      weightLbs: 20_000,
      pickupDate: "2026-12-01",
    });
    expect(q.linehaulCents).toBe(PRICING.minimumLinehaulCents);
  });

  it("keeps hot lanes cached and evicts the coldest when full", () => {
    const engine = new QuoteEngine(PRICING, { maxCachedLanes: 2 });
    const pick = (i: number) => MARKETS[i] as (typeof MARKETS)[number];
    engine.lane(pick(0), pick(1));
    engine.lane(pick(0), pick(2));
    engine.lane(pick(0), pick(1)); // refresh
    engine.lane(pick(0), pick(3)); // evicts 0->2
    expect(engine.cachedLanes).toBe(2);
  });

  it("measures great-circle distance", () => {
    expect(Math.round(greatCircleMiles(chicago, dallas))).toBeGreaterThan(780);
    expect(Math.round(greatCircleMiles(chicago, dallas))).toBeLessThan(820);
  });

  it("finds markets regardless of case and spacing", () => {
    expect(findMarket("  chicago ,il ")).toBe(chicago);
    expect(findMarket("Gotham, NY")).toBeUndefined();
  });

  it("prices at a contract rate: the negotiated linehaul plus per-mile fuel, whatever the season or weight", () => {
    const engine = new QuoteEngine(PRICING);
    const contract = {
      id: "7d3c2b1a-0000-4000-8000-000000000001",
      linehaulCents: 150_000,
      validFrom: "2026-01-01",
      validTo: "2026-12-31",
    };
    const input = { origin: chicago, destination: dallas, equipment: "reefer" as const, weightLbs: 44_000 };
    const peak = engine.priceAtContract({ ...input, pickupDate: "2026-12-10" }, contract);
    const quiet = engine.priceAtContract({ ...input, pickupDate: "2026-02-10" }, contract);
    const spot = engine.price({ ...input, pickupDate: "2026-12-10" });
    expect(peak.source).toBe("contract");
    expect(peak.contract).toEqual(contract);
    expect(spot.source).toBe("spot");
    expect(peak.linehaulCents).toBe(150_000);
    expect(peak.fuelSurchargeCents).toBe(spot.fuelSurchargeCents);
    expect(peak.totalCents).toBe(150_000 + spot.fuelSurchargeCents);
    expect(quiet.totalCents).toBe(peak.totalCents);
    expect(peak.totalCents).not.toBe(spot.totalCents);
  });
});
