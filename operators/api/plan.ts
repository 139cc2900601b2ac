// Plan: what a customer buys. Cluster-scoped, because every tenant namespace refers to the same
// catalogue. The tenant controller turns a Plan (plus a tenant's overrides) into the entitlement
// rows the app enforces.
import { BASE_PLAN_FEATURES, FEATURE_LABELS, PLAN_FEATURES, type PlanFeature } from "../../app/db/plans.ts";
import type { ResourceDefinition } from "./crd.ts";
import { METER_NAMES, type MeterName } from "./meters.ts";
import { bool, int, listMap, obj, str, type SchemaProps } from "./schema.ts";
import type { ObjectMeta } from "./types.ts";

export interface MeterAllowance {
  name: MeterName;
  /** Units per period included in the price. */
  included: number;
  overageAllowed: boolean;
  /** Price of one unit beyond `included`; only with overageAllowed. */
  overageUnitPriceCents?: number;
  /** Usage is denied beyond this, overage or not; at least `included`. */
  hardCeiling: number;
}

export interface RateLimits {
  requestsPerSecond: number;
  burst: number;
  bulkJobConcurrency: number;
}

/**
 * A feature is on when true and off when false; one not listed is off, except the base features
 * (spot quotes, directory search), which the CRD defaults to true: a Plan written without
 * `features` keeps what every plan had, and taking a base feature away is an explicit `false`.
 */
export type PlanFeatures = Partial<Record<PlanFeature, boolean>>;

/** The features a Plan turns on, in catalogue order (base features unless set to false). */
export function enabledFeatures(features: PlanFeatures | undefined): PlanFeature[] {
  return PLAN_FEATURES.filter((feature) => {
    const set = features?.[feature];
    return set === undefined ? BASE_PLAN_FEATURES.includes(feature) : set;
  });
}

export interface PlanSpec {
  displayName: string;
  /** Orders plans from smallest to largest (upgrades go up); unique across plans. */
  rank: number;
  monthlyPriceCents: number;
  meters: MeterAllowance[];
  rateLimits?: RateLimits;
  features?: PlanFeatures;
}

export interface Plan {
  apiVersion: string;
  kind: "Plan";
  metadata: ObjectMeta;
  spec: PlanSpec;
}

const meterNameList = METER_NAMES.map((m) => `'${m}'`).join(", ");

/** Rules shared by a plan's meter allowance and a tenant's override of one. */
export const knownMeterRule = (field: string) => ({
  rule: `self.${field} in [${meterNameList}]`,
  messageExpression: `'unknown meter "' + self.${field} + '": the meters are ${METER_NAMES.join(", ")}'`,
  fieldPath: `.${field}`,
});

export const overagePriceRule = {
  rule: "!has(self.overageUnitPriceCents) || self.overageAllowed",
  message:
    "overageUnitPriceCents is set but overageAllowed is false: set overageAllowed: true or remove the price",
  fieldPath: ".overageUnitPriceCents",
};

const count = (description: string) => int(description, { minimum: 0, maximum: 1_000_000_000_000 });
const positive = (description: string) => int(description, { minimum: 1, maximum: 1_000_000 });

export const rateLimitsSchema = (description: string, required: boolean): SchemaProps =>
  obj(
    description,
    {
      requestsPerSecond: positive("Sustained API requests per second."),
      burst: positive("Requests allowed above the sustained rate in a short burst (token bucket size)."),
      bulkJobConcurrency: positive("Bulk rating jobs that may run at once."),
    },
    required ? { required: ["requestsPerSecond", "burst", "bulkJobConcurrency"] } : {},
  );

export const planDefinition: ResourceDefinition = {
  kind: "Plan",
  plural: "plans",
  singular: "plan",
  shortNames: ["fplan"],
  scope: "Cluster",
  description:
    "A plan customers subscribe to: included usage per meter, overage, ceilings, rate limits, features.",
  spec: obj(
    "The plan's terms.",
    {
      displayName: str("Name shown to customers.", { minLength: 1, maxLength: 100 }),
      rank: int("Orders plans from smallest to largest; unique across plans.", { minimum: 0, maximum: 1000 }),
      monthlyPriceCents: { ...count("Subscription price per month, in cents."), default: 0 },
      meters: listMap(
        "Usage allowance per meter. A meter not listed is not available on the plan.",
        "name",
        obj(
          "Allowance for one meter.",
          {
            name: str("Meter: quotes (monthly), bulk_jobs (daily) or directory_invites (monthly).", {
              maxLength: 32,
            }),
            included: count("Units per period included in the price."),
            overageAllowed: bool("Whether usage beyond `included` is allowed (and billed)."),
            overageUnitPriceCents: count(
              "Price per unit beyond `included`, in cents. Only with overageAllowed.",
            ),
            hardCeiling: count("Usage is denied beyond this, overage or not. At least `included`."),
          },
          {
            required: ["name", "included", "overageAllowed", "hardCeiling"],
            "x-kubernetes-validations": [
              knownMeterRule("name"),
              {
                rule: "self.hardCeiling >= self.included",
                message:
                  "hardCeiling is below included: the ceiling would deny usage the plan includes; raise hardCeiling to at least included",
                fieldPath: ".hardCeiling",
              },
              overagePriceRule,
            ],
          },
        ),
        { maxItems: 8 },
      ),
      rateLimits: rateLimitsSchema(
        "Rate limits of the plan's tenants, unless a RateLimitPolicy for the tenant or the plan says otherwise.",
        true,
      ),
      features: {
        ...obj(
          "Product features the plan unlocks; the API refuses the routes of a feature that is not on. Spot quotes and directory search default to on.",
          Object.fromEntries(
            PLAN_FEATURES.map((feature) => [
              feature,
              bool(
                `${FEATURE_LABELS[feature]}.`,
                BASE_PLAN_FEATURES.includes(feature) ? { default: true } : {},
              ),
            ]),
          ),
        ),
        default: {},
      },
    },
    { required: ["displayName", "rank", "meters"] },
  ),
  printerColumns: [
    { name: "Display Name", type: "string", jsonPath: ".spec.displayName" },
    { name: "Rank", type: "integer", jsonPath: ".spec.rank" },
    { name: "Price (cents)", type: "integer", jsonPath: ".spec.monthlyPriceCents" },
    { name: "Quotes", type: "integer", jsonPath: '.spec.meters[?(@.name=="quotes")].included' },
    { name: "RPS", type: "integer", jsonPath: ".spec.rateLimits.requestsPerSecond" },
  ],
};
