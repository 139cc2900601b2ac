// Pricing with a PricingModel version: which version a tenant gets (sticky assignment) and what the
// version and its guardrails do to the engine's price. Pure functions, shared by the quote path and the
// backtest, so a replayed booking is priced exactly as a live quote would have been.
//
// Assignment: bucket = first 32 bits of sha256("<model>:<bucketVersion>:<tenantId>") mod 10,000; a
// tenant is on the challenger when bucket < challenger weight x 100. A tenant's bucket never changes
// while bucketVersion stays, so raising the weight from 10 to 50 only adds tenants (nobody flips back
// and forth between versions); changing bucketVersion re-randomises everyone.
import { createHash } from "node:crypto";
import type { PricedQuote } from "./engine.ts";
import type { RateRegion } from "./markets.ts";

export const BUCKETS = 10_000;

export interface VersionCoefficients {
  linehaulMultiplier: number;
  fuelSurchargeMultiplier: number;
  marginRate: number;
}

export interface VersionGuardrails {
  minMarginPercent: number;
  regionalCaps?: { region: RateRegion; maxCentsPerMile: number }[];
}

export interface PricingVersion {
  name: string;
  coefficients: VersionCoefficients;
  guardrails: VersionGuardrails;
}

export interface ActiveSplit {
  model: string;
  bucketVersion: number;
  champion: PricingVersion;
  challenger?: PricingVersion;
  /** Percent of buckets on the challenger (0 to 100). */
  challengerWeight: number;
}

export function tenantBucket(model: string, bucketVersion: number, tenantId: string): number {
  const digest = createHash("sha256").update(`${model}:${bucketVersion}:${tenantId}`).digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

/** The version a tenant is priced with, and its bucket (recorded on the quote). */
export function assignVersion(
  split: ActiveSplit,
  tenantId: string,
): { version: PricingVersion; bucket: number } {
  const bucket = tenantBucket(split.model, split.bucketVersion, tenantId);
  const onChallenger = split.challenger !== undefined && bucket < split.challengerWeight * (BUCKETS / 100);
  return { version: onChallenger ? (split.challenger as PricingVersion) : split.champion, bucket };
}

export interface GuardedPrice {
  priced: PricedQuote;
  /** The regional cap lowered the price. */
  clampedByCap: boolean;
  /** The margin floor raised the margin. */
  raisedToFloor: boolean;
  /** The floor kept the price above the cap: counted as a cap breach by the analysis. */
  capBreached: boolean;
}

/**
 * Applies `version` to a spot price from the engine: its multipliers and margin, then the guardrails.
 * The margin floor wins over a cap (never quote below the floor); when they disagree the quote stays
 * above the cap and says so, and the rollout's analysis counts it.
 */
export function priceWithVersion(
  base: PricedQuote,
  version: PricingVersion,
  originRegion: RateRegion,
): GuardedPrice {
  if (base.source === "contract") {
    // A negotiated rate is the price: no model applies to it.
    return { priced: base, clampedByCap: false, raisedToFloor: false, capBreached: false };
  }
  const { coefficients, guardrails } = version;
  const linehaulCents = Math.round(base.linehaulCents * coefficients.linehaulMultiplier);
  const fuelSurchargeCents = Math.round(base.fuelSurchargeCents * coefficients.fuelSurchargeMultiplier);
  const cost = linehaulCents + fuelSurchargeCents;
  const floorCents = Math.ceil((cost * guardrails.minMarginPercent) / 100);
  let marginCents = Math.max(Math.round(cost * coefficients.marginRate), floorCents);
  const raisedToFloor = marginCents > Math.round(cost * coefficients.marginRate);
  let clampedByCap = false;
  let capBreached = false;
  const cap = guardrails.regionalCaps?.find((c) => c.region === originRegion);
  if (cap) {
    const capCents = cap.maxCentsPerMile * base.distanceMiles;
    if (cost + marginCents > capCents) {
      const clampedMargin = capCents - cost;
      if (clampedMargin >= floorCents) {
        marginCents = clampedMargin;
        clampedByCap = true;
      } else {
        capBreached = true;
      }
    }
  }
  return {
    priced: {
      ...base,
      linehaulCents,
      fuelSurchargeCents,
      marginCents,
      totalCents: cost + marginCents,
      pricingVersion: version.name,
    },
    clampedByCap,
    raisedToFloor,
    capBreached,
  };
}
