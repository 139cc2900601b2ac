// Pricing data, versioned as a whole: a quote records the version it was priced with, and the same
// inputs with the same version always give the same price.
import type { RateRegion } from "./markets.ts";

export const EQUIPMENT = ["dry_van", "reefer", "flatbed"] as const;
export type Equipment = (typeof EQUIPMENT)[number];

export interface PricingData {
  version: string;
  /** Road miles per great-circle mile. */
  circuityFactor: number;
  /** Linehaul cents per mile by origin region, then destination region (dry van, 40k lbs, index 1.0). */
  ratePerMileCents: Record<RateRegion, Record<RateRegion, number>>;
  /** Short hauls cost more per mile: a minimum linehaul charge. */
  minimumLinehaulCents: number;
  equipmentFactor: Record<Equipment, number>;
  /** Monthly demand index per equipment type (index 0 = January). */
  seasonality: Record<Equipment, readonly number[]>;
  /** Heavy loads burn more fuel and limit backhaul options: factor per 10,000 lbs above 40,000. */
  heavyLoadFactorPer10k: number;
  maxWeightLbs: Record<Equipment, number>;
  /** Fuel surcharge: cents per mile, from the diesel index of the pickup week. */
  fuelSurchargeCentsPerMile: number;
  marginRate: number;
}

const r = (ne: number, se: number, mw: number, sc: number, mo: number, wc: number) => ({
  northeast: ne,
  southeast: se,
  midwest: mw,
  south_central: sc,
  mountain: mo,
  west_coast: wc,
});

export const PRICING: PricingData = {
  version: "2026-11.1",
  circuityFactor: 1.17,
  ratePerMileCents: {
    northeast: r(310, 245, 255, 215, 205, 215),
    southeast: r(265, 240, 230, 210, 200, 205),
    midwest: r(275, 235, 245, 220, 210, 215),
    south_central: r(280, 240, 235, 225, 205, 210),
    mountain: r(250, 215, 215, 205, 215, 225),
    west_coast: r(300, 260, 255, 240, 265, 280),
  },
  minimumLinehaulCents: 45_000,
  equipmentFactor: { dry_van: 1, reefer: 1.22, flatbed: 1.15 },
  seasonality: {
    dry_van: [0.95, 0.93, 0.97, 0.99, 1.01, 1.04, 1.02, 1.0, 1.01, 1.03, 1.07, 1.1],
    reefer: [0.96, 0.95, 0.99, 1.04, 1.09, 1.12, 1.08, 1.03, 1.0, 1.01, 1.06, 1.09],
    flatbed: [0.92, 0.96, 1.05, 1.1, 1.12, 1.09, 1.03, 1.0, 0.98, 0.96, 0.93, 0.9],
  },
  heavyLoadFactorPer10k: 0.04,
  maxWeightLbs: { dry_van: 45_000, reefer: 43_500, flatbed: 48_000 },
  fuelSurchargeCentsPerMile: 62,
  marginRate: 0.12,
};
