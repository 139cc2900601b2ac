// The default plan catalogue. In a cluster the Plan custom resources are the source of truth and the
// tenant controller writes effective limits; these defaults seed local and test databases.
import type { Meter, MeterPeriod } from "../metering/meters.ts";

export interface PlanMeter {
  period: MeterPeriod;
  included: number;
  overageAllowed: boolean;
  overageUnitPriceCents: number | null;
  hardCeiling: number;
}

/**
 * Product features a plan can unlock; the API refuses a route family whose feature the caller's plan
 * lacks (app/http/features.ts). Named as the Plan CRD's spec.features keys, in the database too.
 */
export const PLAN_FEATURES = [
  "spotQuotes",
  "directorySearch",
  "contracts",
  "bulkRating",
  "invites",
  "lists",
  "sso",
  "dataResidency",
] as const;
export type PlanFeature = (typeof PLAN_FEATURES)[number];

export const FEATURE_LABELS: Record<PlanFeature, string> = {
  spotQuotes: "Spot quotes",
  directorySearch: "Carrier directory search",
  contracts: "Contract rates",
  bulkRating: "Bulk rating",
  invites: "Carrier invites",
  lists: "Carrier lists",
  sso: "Single sign-on",
  dataResidency: "Data residency",
};

/** What every plan has unless it says otherwise (the Plan CRD defaults these to true). */
export const BASE_PLAN_FEATURES: readonly PlanFeature[] = ["spotQuotes", "directorySearch"];

const STARTER_FEATURES: PlanFeature[] = [...BASE_PLAN_FEATURES];
const PRO_FEATURES: PlanFeature[] = [...STARTER_FEATURES, "contracts", "bulkRating", "invites", "lists"];
const ENTERPRISE_FEATURES: PlanFeature[] = [...PRO_FEATURES, "sso", "dataResidency"];

export interface PlanDefinition {
  id: string;
  name: string;
  rank: number;
  monthlyPriceCents: number;
  meters: Record<Meter, PlanMeter>;
  rateLimits: { requestsPerSecond: number; burst: number; bulkJobConcurrency: number };
  features: PlanFeature[];
}

export const DEFAULT_PLANS: PlanDefinition[] = [
  {
    id: "starter",
    name: "Starter",
    rank: 1,
    monthlyPriceCents: 9_900,
    // Soft caps: a 10 % grace beyond the included quantity, never billed, then a hard stop.
    meters: {
      quotes: {
        period: "month",
        included: 1_000,
        overageAllowed: false,
        overageUnitPriceCents: null,
        hardCeiling: 1_100,
      },
      bulk_jobs: {
        period: "day",
        included: 2,
        overageAllowed: false,
        overageUnitPriceCents: null,
        hardCeiling: 2,
      },
      directory_invites: {
        period: "month",
        included: 20,
        overageAllowed: false,
        overageUnitPriceCents: null,
        hardCeiling: 22,
      },
    },
    rateLimits: { requestsPerSecond: 5, burst: 10, bulkJobConcurrency: 1 },
    features: STARTER_FEATURES,
  },
  {
    id: "pro",
    name: "Pro",
    rank: 2,
    monthlyPriceCents: 49_900,
    // Bulk rating is metered with billed overage up to a ceiling that protects the runners.
    meters: {
      quotes: {
        period: "month",
        included: 25_000,
        overageAllowed: true,
        overageUnitPriceCents: 2,
        hardCeiling: 50_000,
      },
      bulk_jobs: {
        period: "day",
        included: 20,
        overageAllowed: true,
        overageUnitPriceCents: 500,
        hardCeiling: 60,
      },
      directory_invites: {
        period: "month",
        included: 200,
        overageAllowed: false,
        overageUnitPriceCents: null,
        hardCeiling: 220,
      },
    },
    rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4 },
    features: PRO_FEATURES,
  },
  {
    id: "enterprise",
    name: "Enterprise",
    rank: 3,
    monthlyPriceCents: 250_000,
    // Custom per contract; these are the defaults a contract starts from.
    meters: {
      quotes: {
        period: "month",
        included: 500_000,
        overageAllowed: true,
        overageUnitPriceCents: 1,
        hardCeiling: 2_000_000,
      },
      bulk_jobs: {
        period: "day",
        included: 200,
        overageAllowed: true,
        overageUnitPriceCents: 300,
        hardCeiling: 1_000,
      },
      directory_invites: {
        period: "month",
        included: 2_000,
        overageAllowed: true,
        overageUnitPriceCents: 50,
        hardCeiling: 10_000,
      },
    },
    rateLimits: { requestsPerSecond: 200, burst: 400, bulkJobConcurrency: 16 },
    features: ENTERPRISE_FEATURES,
  },
];
