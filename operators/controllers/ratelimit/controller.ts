// Wires the rate-limit reconciler into a manager. Keys are tenants; a policy or plan change
// enqueues every tenant it can affect (before and after the change).
import type pg from "pg";
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { plans as plansRef, rateLimitPolicies, tenants as tenantsRef } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import { Controller } from "../../runtime/controller.ts";
import { keyOf } from "../../runtime/keys.ts";
import type { Manager } from "../../runtime/manager.ts";
import {
  deletionChanged,
  fieldChanged,
  generationChanged,
  or,
  specOrMetadataChanged,
} from "../../runtime/predicates.ts";
import { tenantsOnPlan } from "../tenant/mappers.ts";
import { tenantsTargetedBy } from "./effective.ts";
import { PolicyStatusReconciler, RateLimitReconciler } from "./reconciler.ts";

export function addRateLimitController(
  manager: Manager,
  options: { pool: pg.Pool; workers?: number },
): Controller {
  const tenants = manager.informer<Tenant>(tenantsRef);
  const plans = manager.informer<Plan>(plansRef);
  const policies = manager.informer<RateLimitPolicy>(rateLimitPolicies);
  const reconciler = new RateLimitReconciler({
    client: manager.client,
    pool: options.pool,
    tenants,
    plans,
    policies,
  });
  const controller = new Controller({ name: "ratelimit", reconciler, workers: options.workers ?? 4 });
  // Spec changes, and the tenant controller reporting the tenant's database row (status.tenantId),
  // which is when its limits can first be written; not our own status writes.
  controller.watch(tenants, {
    predicates: [
      or(
        generationChanged,
        deletionChanged,
        fieldChanged<Tenant>((t) => t.status?.tenantId),
      ),
    ],
  });
  controller.watch(plans, { map: tenantsOnPlan(tenants), predicates: [specOrMetadataChanged] });
  controller.watch(policies, {
    map: (policy) => tenantsTargetedBy(policy, tenants.list()),
    predicates: [specOrMetadataChanged],
  });
  manager.add(controller);

  // Policy status: whether each policy takes effect. Keys are policies; a tenant or plan change can
  // change that for every policy of the namespace (or all namespaces, for a plan).
  const deps = { client: manager.client, pool: options.pool, tenants, plans, policies };
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
  return controller;
}
