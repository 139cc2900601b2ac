import { describe, expect, it } from "vitest";
import { PRICING } from "./data.ts";
import { QuoteEngine, type QuoteInput } from "./engine.ts";
import { findMarket } from "./markets.ts";
import type { ActiveSplit } from "./model-version.ts";
import { splitFromRow } from "./pricing-splits.ts";
import { QuotePricing } from "./quote-pricing.ts";

const engine = new QuoteEngine(PRICING);
const input: QuoteInput = {
  origin: findMarket("Los Angeles, CA")!,
  destination: findMarket("Phoenix, AZ")!,
  equipment: "reefer",
  weightLbs: 42_000,
  pickupDate: "2026-12-10",
};
const tenant = "7f0c3a52-94a1-4c1b-8d2e-0a6f5f1f0b11";
const challengerEverywhere: ActiveSplit = {
  model: "spot",
  bucketVersion: 1,
  champion: {
    name: "v1",
    coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
    guardrails: { minMarginPercent: 8 },
  },
  challenger: {
    name: "v2",
    coefficients: { linehaulMultiplier: 1.2, fuelSurchargeMultiplier: 1, marginRate: 0.1 },
    guardrails: { minMarginPercent: 8 },
  },
  challengerWeight: 100,
};

describe("pricing a quote with the model split", () => {
  it("prices exactly as the engine does when the model has no split (its own version is champion)", () => {
    const quote = new QuotePricing(engine).price(tenant, input);
    expect(quote.priced).toEqual(engine.price(input));
    expect(quote.model).toBe("spot");
    expect(quote.bucket).toBeGreaterThanOrEqual(0);
  });

  it("prices with the tenant's version and leaves a contract rate as agreed, with no bucket", () => {
    const pricing = new QuotePricing(engine, () => challengerEverywhere);
    expect(pricing.price(tenant, input).priced.pricingVersion).toBe("v2");
    const contract = {
      id: "c0ffee00-0000-4000-8000-000000000001",
      linehaulCents: 150_000,
      validFrom: "2026-12-01",
      validTo: "2026-12-31",
    };
    const atContract = pricing.price(tenant, input, contract);
    expect(atContract.priced).toEqual(engine.priceAtContract(input, contract));
    expect(atContract).toMatchObject({ model: undefined, bucket: undefined, capBreached: false });
  });

  it("refuses a split row whose version is not PricingVersion JSON, naming the column and field", () => {
    expect(() =>
      splitFromRow({
        model: "spot",
        bucket_version: 1,
        champion: {
          name: "v1",
          coefficients: { linehaulMultiplier: 1 },
          guardrails: { minMarginPercent: 8 },
        },
        challenger: null,
        challenger_weight: "0",
        spec_hash: "x",
      }),
    ).toThrow(/'spot': champion\.coefficients\.fuelSurchargeMultiplier/);
  });
});
