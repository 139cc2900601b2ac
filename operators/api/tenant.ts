// Tenant: one customer. Spec is what sales, billing and ops decided (plan, overrides granted by ops,
// residency, billing status); status is what the controllers made of it (effective entitlements and
// rate limits as the app enforces them, usage against them, conditions).
import type { ResourceDefinition } from "./crd.ts";
import type { MeterName, MeterPeriod, WarningLevel } from "./meters.ts";
import { knownMeterRule, overagePriceRule } from "./plan.ts";
import { DNS_LABEL, bool, conditionsSchema, int, listMap, obj, str } from "./schema.ts";
import type { Condition, ObjectMeta } from "./types.ts";

export const BILLING_STATUSES = ["trialing", "active", "past_due", "unpaid", "canceled"] as const;
export type BillingStatus = (typeof BILLING_STATUSES)[number];

/** A limit increase (or decrease) ops granted one tenant; each field set replaces the plan's. */
export interface MeterOverride {
  meter: MeterName;
  included?: number;
  overageAllowed?: boolean;
  overageUnitPriceCents?: number;
  hardCeiling?: number;
  /** Why it was granted: a ticket or a sentence, for the next person reading it. */
  reason: string;
}

export interface TenantSpec {
  displayName?: string;
  plan: string;
  billingStatus?: BillingStatus;
  dataResidencyRegion?: string;
  overrides?: MeterOverride[];
}

export interface Entitlement {
  meter: MeterName;
  period: MeterPeriod;
  included: number;
  overageAllowed: boolean;
  overageUnitPriceCents?: number;
  hardCeiling: number;
  /** "plan", or "override" when any field came from spec.overrides. */
  source: "plan" | "override";
}

export interface MeterUsage {
  meter: MeterName;
  periodStart: string;
  used: number;
  included: number;
  /** used / included, in whole percent (100 when anything is used of nothing included). */
  percent: number;
  level: WarningLevel;
}

export interface EffectiveRateLimits {
  requestsPerSecond: number;
  burst: number;
  bulkJobConcurrency: number;
  /** Where each value came from, e.g. "tenant-policy/acme-burst, plan/growth". */
  source: string;
}

export interface TenantStatus {
  observedGeneration?: number;
  tenantId?: string;
  entitlements?: Entitlement[];
  usage?: MeterUsage[];
  warningLevel?: WarningLevel;
  rateLimits?: EffectiveRateLimits;
  conditions?: Condition[];
}

export interface Tenant {
  apiVersion: string;
  kind: "Tenant";
  metadata: ObjectMeta;
  spec: TenantSpec;
  status?: TenantStatus;
}

/** Condition types on a Tenant, and the controller that owns each. */
export const TenantConditions = {
  /** tenant controller: spec.plan names an existing Plan. */
  PlanResolved: "PlanResolved",
  /** tenant controller: the entitlement rows match the effective entitlements. */
  EntitlementsApplied: "EntitlementsApplied",
  /** tenant controller (rules in controllers/ratelimit): tenant_rate_limits matches the effective rate limits. */
  RateLimitsApplied: "RateLimitsApplied",
  /** tenant controller: the tenant is provisioned and enforced as specified. */
  Ready: "Ready",
} as const;

const count = (description: string) => int(description, { minimum: 0, maximum: 1_000_000_000_000 });

export const tenantDefinition: ResourceDefinition = {
  kind: "Tenant",
  plural: "tenants",
  singular: "tenant",
  shortNames: ["ften"],
  scope: "Namespaced",
  description:
    "A customer of the platform. metadata.name is the tenant's slug and is unique across namespaces.",
  spec: obj(
    "What the customer bought and what ops granted.",
    {
      displayName: str("Customer name.", { maxLength: 200 }),
      plan: str("Name of the Plan the tenant is on.", { minLength: 1, maxLength: 63, pattern: DNS_LABEL }),
      billingStatus: str("Billing state, as the billing webhooks report it.", {
        enum: [...BILLING_STATUSES],
        default: "active",
      }),
      dataResidencyRegion: str("Region the tenant's data must stay in, e.g. us-east-1.", { maxLength: 32 }),
      overrides: listMap(
        "Per-meter changes to the plan's allowance granted by ops. Each field set replaces the plan's value.",
        "meter",
        obj(
          "Override of one meter's allowance.",
          {
            meter: str("Meter: quotes, bulk_jobs or directory_invites.", { maxLength: 32 }),
            included: count("Units per period included."),
            overageAllowed: bool("Whether usage beyond `included` is allowed."),
            overageUnitPriceCents: count("Price per unit beyond `included`, in cents."),
            hardCeiling: count("Usage is denied beyond this."),
            reason: str("Why it was granted (ticket, agreement).", { minLength: 1, maxLength: 500 }),
          },
          {
            required: ["meter", "reason"],
            "x-kubernetes-validations": [
              knownMeterRule("meter"),
              {
                rule: "!has(self.included) || !has(self.hardCeiling) || self.hardCeiling >= self.included",
                message:
                  "hardCeiling is below included: the ceiling would deny usage the override includes; raise hardCeiling to at least included",
                fieldPath: ".hardCeiling",
              },
              {
                rule: "!has(self.overageUnitPriceCents) || !has(self.overageAllowed) || self.overageAllowed",
                message: overagePriceRule.message,
                fieldPath: ".overageUnitPriceCents",
              },
              {
                rule: "has(self.included) || has(self.overageAllowed) || has(self.overageUnitPriceCents) || has(self.hardCeiling)",
                message:
                  "an override must change at least one of included, overageAllowed, overageUnitPriceCents, hardCeiling",
              },
            ],
          },
        ),
        { maxItems: 8 },
      ),
    },
    { required: ["plan"] },
  ),
  status: obj("What the controllers observed and applied.", {
    observedGeneration: int("metadata.generation the tenant controller last acted on.", { minimum: 0 }),
    tenantId: str("The tenant's id in the app database.", { maxLength: 36 }),
    entitlements: listMap(
      "Effective entitlements, as written for enforcement.",
      "meter",
      obj(
        "Effective allowance for one meter.",
        {
          meter: str("Meter name.", { maxLength: 32 }),
          period: str("Reset period.", { enum: ["day", "month"] }),
          included: count("Units per period included."),
          overageAllowed: bool("Whether overage is allowed."),
          overageUnitPriceCents: count("Overage price per unit, in cents."),
          hardCeiling: count("Usage ceiling."),
          source: str("plan, or override when ops changed any field.", { enum: ["plan", "override"] }),
        },
        { required: ["meter", "period", "included", "overageAllowed", "hardCeiling", "source"] },
      ),
      { maxItems: 8 },
    ),
    usage: listMap(
      "Usage in the current period per meter.",
      "meter",
      obj(
        "Usage of one meter.",
        {
          meter: str("Meter name.", { maxLength: 32 }),
          periodStart: str("Start of the current period.", { format: "date-time" }),
          used: count("Units used this period."),
          included: count("Units included this period."),
          percent: int("used / included in whole percent.", { minimum: 0 }),
          level: int("Highest warning threshold reached: 0, 80, 90 or 100.", { enum: [0, 80, 90, 100] }),
        },
        { required: ["meter", "periodStart", "used", "included", "percent", "level"] },
      ),
      { maxItems: 8 },
    ),
    warningLevel: int("Highest warning threshold reached by any meter: 0, 80, 90 or 100.", {
      enum: [0, 80, 90, 100],
    }),
    rateLimits: obj(
      "Effective rate limits, as written for enforcement.",
      {
        requestsPerSecond: int("Sustained requests per second.", { minimum: 1 }),
        burst: int("Burst size.", { minimum: 1 }),
        bulkJobConcurrency: int("Concurrent bulk jobs.", { minimum: 1 }),
        source: str("Where the values came from.", { maxLength: 1024 }),
      },
      { required: ["requestsPerSecond", "burst", "bulkJobConcurrency", "source"] },
    ),
    conditions: conditionsSchema(),
  }),
  printerColumns: [
    { name: "Plan", type: "string", jsonPath: ".spec.plan" },
    { name: "Billing", type: "string", jsonPath: ".spec.billingStatus" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Warning", type: "integer", jsonPath: ".status.warningLevel" },
    { name: "Quotes %", type: "integer", jsonPath: '.status.usage[?(@.meter=="quotes")].percent' },
    { name: "RPS", type: "integer", jsonPath: ".status.rateLimits.requestsPerSecond" },
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      priority: 1,
    },
  ],
};
