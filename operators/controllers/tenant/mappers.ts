// "The tenants on this plan": a Plan change enqueues every Tenant whose spec.plan names it. The
// tenant controller (entitlements) and the rate-limit controller (plan rate limits) both watch
// Plans through this one mapper, so the relation is spelled once.
import type { Plan } from "../../api/plan.ts";
import type { Tenant } from "../../api/tenant.ts";
import { referencedBy, type MapFunc, type ObjectLister } from "../../runtime/mappers.ts";

export function tenantsOnPlan(tenants: ObjectLister<Tenant>): MapFunc<Plan> {
  return referencedBy<Tenant, Plan>(tenants, (tenant) => tenant.spec.plan);
}
