// RateLimitPolicy: rate limits for every tenant in the namespace (Default), the tenants of one plan
// (Plan) or one tenant (Tenant). Precedence, field by field: a Tenant policy over a Plan policy over
// the Plan's own spec.rateLimits over a Default policy over the built-in default.
import type { ResourceDefinition } from "./crd.ts";
import { rateLimitsSchema } from "./plan.ts";
import { DNS_LABEL, conditionsSchema, int, obj, str } from "./schema.ts";
import type { Condition, ObjectMeta } from "./types.ts";

export const POLICY_TARGET_KINDS = ["Default", "Plan", "Tenant"] as const;
export type PolicyTargetKind = (typeof POLICY_TARGET_KINDS)[number];

export interface RateLimitPolicySpec {
  target: { kind: PolicyTargetKind; name?: string };
  limits: { requestsPerSecond?: number; burst?: number; bulkJobConcurrency?: number };
}

export interface RateLimitPolicyStatus {
  observedGeneration?: number;
  /** Tenants whose effective limits take at least one value from this policy. */
  tenantsAffected?: number;
  /** Condition Effective: True when it sets a value for at least one tenant. */
  conditions?: Condition[];
}

export interface RateLimitPolicy {
  apiVersion: string;
  kind: "RateLimitPolicy";
  metadata: ObjectMeta;
  spec: RateLimitPolicySpec;
  status?: RateLimitPolicyStatus;
}

export const rateLimitPolicyDefinition: ResourceDefinition = {
  kind: "RateLimitPolicy",
  plural: "ratelimitpolicies",
  singular: "ratelimitpolicy",
  shortNames: ["rlp"],
  scope: "Namespaced",
  description:
    "Rate limits for the tenants of this namespace: all of them (Default), those on a plan (Plan) or one tenant (Tenant). Tenant beats Plan beats Default, per field.",
  spec: obj(
    "Who the limits apply to and the limits.",
    {
      target: obj(
        "The tenants the policy applies to.",
        {
          kind: str("Default (every tenant in the namespace), Plan or Tenant.", {
            enum: [...POLICY_TARGET_KINDS],
          }),
          name: str("Name of the Plan or Tenant; omitted for Default.", {
            maxLength: 63,
            pattern: DNS_LABEL,
          }),
        },
        {
          required: ["kind"],
          "x-kubernetes-validations": [
            {
              rule: "self.kind == 'Default' ? !has(self.name) : has(self.name)",
              message:
                "target.name names the Plan or Tenant: set it for kind Plan or Tenant, and omit it for kind Default",
            },
          ],
        },
      ),
      limits: {
        ...rateLimitsSchema(
          "The limits; fields left out fall through to the next policy in precedence.",
          false,
        ),
        "x-kubernetes-validations": [
          {
            rule: "has(self.requestsPerSecond) || has(self.burst) || has(self.bulkJobConcurrency)",
            message: "limits must set at least one of requestsPerSecond, burst, bulkJobConcurrency",
          },
        ],
      },
    },
    { required: ["target", "limits"] },
  ),
  status: obj("Whether the policy takes effect, as the rate-limit controller computed it.", {
    observedGeneration: int("metadata.generation the status describes.", { minimum: 0 }),
    tenantsAffected: int("Tenants whose effective limits take at least one value from this policy.", {
      minimum: 0,
    }),
    conditions: conditionsSchema(),
  }),
  printerColumns: [
    { name: "Target", type: "string", jsonPath: ".spec.target.kind" },
    { name: "Name", type: "string", jsonPath: ".spec.target.name" },
    { name: "RPS", type: "integer", jsonPath: ".spec.limits.requestsPerSecond" },
    { name: "Burst", type: "integer", jsonPath: ".spec.limits.burst" },
    { name: "Concurrency", type: "integer", jsonPath: ".spec.limits.bulkJobConcurrency" },
    { name: "Effective", type: "string", jsonPath: '.status.conditions[?(@.type=="Effective")].status' },
    { name: "Tenants", type: "integer", jsonPath: ".status.tenantsAffected" },
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Effective")].reason',
      priority: 1,
    },
  ],
};
