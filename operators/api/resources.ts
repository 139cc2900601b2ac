// Every custom resource the operators serve. CRD YAML, RBAC and the client references are all
// generated from this list; a new kind (e.g. RegionFailover) is added here and in rbac.ts.
import { refOf, type ResourceDefinition } from "./crd.ts";
import { planDefinition } from "./plan.ts";
import { pricingModelDefinition } from "./pricingmodel.ts";
import { rateLimitPolicyDefinition } from "./ratelimitpolicy.ts";
import { regionFailoverDefinition } from "./regionfailover.ts";
import { tenantDefinition } from "./tenant.ts";

export const resourceDefinitions: ResourceDefinition[] = [
  planDefinition,
  tenantDefinition,
  rateLimitPolicyDefinition,
  regionFailoverDefinition,
  pricingModelDefinition,
];

export const plans = refOf(planDefinition);
export const tenants = refOf(tenantDefinition);
export const rateLimitPolicies = refOf(rateLimitPolicyDefinition);
export const regionFailovers = refOf(regionFailoverDefinition);
export const pricingModels = refOf(pricingModelDefinition);
