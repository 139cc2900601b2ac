// Rate limits of tenants and the status of RateLimitPolicies. A tenant's effective limits (from the
// policies of its namespace, its plan and the default) are written to tenant_rate_limits and
// reported in status.rateLimits and the RateLimitsApplied condition by the tenant controller, in the
// same database batch and the same status write as the rest of the tenant (one API write per new
// tenant); decideRateLimitStatus is that part of the decision. This controller owns the status of
// RateLimitPolicy objects.
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { rateLimitPolicies } from "../../api/resources.ts";
import { TenantConditions, type EffectiveRateLimits, type Tenant } from "../../api/tenant.ts";
import type { Condition } from "../../api/types.ts";
import { findCondition, setCondition } from "../../runtime/conditions.ts";
import type { Reconciler } from "../../runtime/controller.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { ObjectKey } from "../../runtime/keys.ts";
import type { KubeClient } from "../../runtime/kube.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { decidePolicyStatus } from "./policy-status.ts";

export const RATELIMIT_FIELD_MANAGER = "ratelimit-controller";

export interface RateLimitReconcilerDeps {
  client: KubeClient;
  tenants: Informer<Tenant>;
  plans: Informer<Plan>;
  policies: Informer<RateLimitPolicy>;
  now?: () => Date;
}

/** Pure: the rate-limit part of the Tenant status (reported by the tenant controller). */
export function decideRateLimitStatus(
  tenant: Tenant,
  limits: EffectiveRateLimits,
  provisioned: boolean,
  now: Date,
): { rateLimits?: EffectiveRateLimits; conditions: Condition[] } {
  const previous = findCondition(tenant.status?.conditions, TenantConditions.RateLimitsApplied);
  const conditions = setCondition(
    previous ? [previous] : [],
    provisioned
      ? {
          type: TenantConditions.RateLimitsApplied,
          status: "True",
          reason: "Applied",
          message: `${limits.requestsPerSecond} req/s, burst ${limits.burst}, ${limits.bulkJobConcurrency} concurrent bulk job(s) (${limits.source}).`,
        }
      : {
          type: TenantConditions.RateLimitsApplied,
          status: "False",
          reason: "TenantNotProvisioned",
          message:
            "The tenant has no database row yet; the tenant controller creates it once the tenant's plan resolves.",
        },
    tenant.metadata.generation,
    now,
  );
  return provisioned
    ? { rateLimits: limits, conditions }
    : { rateLimits: tenant.status?.rateLimits, conditions };
}

/** Reconciles a RateLimitPolicy's status: whether it takes effect, and for how many tenants. */
export class PolicyStatusReconciler implements Reconciler {
  private readonly deps: RateLimitReconcilerDeps;

  constructor(deps: RateLimitReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: ObjectKey): Promise<void> {
    const { client, tenants, plans, policies } = this.deps;
    const policy = policies.get(key);
    if (!policy || policy.metadata.deletionTimestamp) return;
    const namespace = policy.metadata.namespace;
    const status = decidePolicyStatus(
      policy,
      policies.list().filter((p) => p.metadata.namespace === namespace),
      tenants.list().filter((t) => t.metadata.namespace === namespace),
      (name) => plans.get({ name }),
      this.deps.now?.() ?? new Date(),
    );
    await applyStatusIfChanged(client, rateLimitPolicies, policy, status, {
      fieldManager: RATELIMIT_FIELD_MANAGER,
      current: {
        ...policy.status,
        conditions: policy.status?.conditions?.filter((c) => c.type === "Effective"),
      },
    });
  }
}
