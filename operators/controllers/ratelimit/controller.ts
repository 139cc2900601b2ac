// Wires the RateLimitPolicy status controller into a manager: whether each policy takes effect,
// and for how many tenants. A tenant's own limits are the tenant controller's (it watches policies
// and reports them in the same status write as the rest of the tenant).
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { plans as plansRef, rateLimitPolicies, tenants as tenantsRef } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import { Controller } from "../../runtime/controller.ts";
import { keyOf } from "../../runtime/keys.ts";
import type { Manager } from "../../runtime/manager.ts";
import { generationChanged } from "../../runtime/predicates.ts";
import { PolicyStatusReconciler } from "./reconciler.ts";

export function addRateLimitController(manager: Manager): Controller {
  const tenants = manager.informer<Tenant>(tenantsRef);
  const plans = manager.informer<Plan>(plansRef);
  const policies = manager.informer<RateLimitPolicy>(rateLimitPolicies);
  // Keys are policies; a tenant or plan change can change whether a policy takes effect for every
  // policy of the namespace (or all namespaces, for a plan).
  const deps = { client: manager.client, tenants, plans, policies };
  const statuses = new Controller({
    name: "ratelimitpolicy",
    reconciler: new PolicyStatusReconciler(deps),
    workers: 2,
  });
  const policiesIn = (namespace: string | undefined) =>
    policies
      .list()
      .filter((p) => p.metadata.namespace === namespace)
      .map(keyOf);
  // One policy appearing or going away can shadow or unshadow the others of its namespace.
  statuses.watch(policies, {
    map: (policy) => [keyOf(policy), ...policiesIn(policy.metadata.namespace)],
    predicates: [generationChanged],
  });
  statuses.watch(tenants, {
    map: (tenant) => policiesIn(tenant.metadata.namespace),
    predicates: [generationChanged],
  });
  statuses.watch(plans, { map: () => policies.list().map(keyOf), predicates: [generationChanged] });
  manager.add(statuses);
  return statuses;
}
