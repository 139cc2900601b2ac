// Rate-limit reconciler: for one tenant, computes the effective limits from the policies of its
// namespace, its plan and the default, writes them to tenant_rate_limits and reports them in its
// part of the Tenant status (status.rateLimits and the RateLimitsApplied condition).
import type pg from "pg";
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { rateLimitPolicies, tenants as tenantsRef } from "../../api/resources.ts";
import { TenantConditions, type EffectiveRateLimits, type Tenant } from "../../api/tenant.ts";
import type { Condition } from "../../api/types.ts";
import { findCondition, setCondition } from "../../runtime/conditions.ts";
import type { ReconcileResult, Reconciler } from "../../runtime/controller.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { ObjectKey } from "../../runtime/keys.ts";
import type { KubeClient } from "../../runtime/kube.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { effectiveRateLimits } from "./effective.ts";
import { decidePolicyStatus } from "./policy-status.ts";
import { Batcher } from "../../runtime/batcher.ts";
import { syncTenantRateLimits, type TenantRateLimits, type TenantRateLimitsSynced } from "./store.ts";

export const RATELIMIT_FIELD_MANAGER = "ratelimit-controller";

export interface RateLimitReconcilerDeps {
  client: KubeClient;
  pool: pg.Pool;
  tenants: Informer<Tenant>;
  plans: Informer<Plan>;
  policies: Informer<RateLimitPolicy>;
  now?: () => Date;
}

/** Pure: this controller's part of the Tenant status. */
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

export class RateLimitReconciler implements Reconciler {
  private readonly deps: RateLimitReconcilerDeps;
  private readonly rateLimits: Batcher<TenantRateLimits, TenantRateLimitsSynced>;

  constructor(deps: RateLimitReconcilerDeps) {
    this.deps = deps;
    this.rateLimits = new Batcher({ run: (items) => syncTenantRateLimits(deps.pool, items) });
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { client, tenants, plans, policies } = this.deps;
    const tenant = tenants.get(key);
    if (!tenant || tenant.metadata.deletionTimestamp) return;
    const plan = plans.get({ name: tenant.spec.plan });
    const limits = effectiveRateLimits(policies.list(), tenant, plan?.spec);
    const { tenantId } = await this.rateLimits.submit({ slug: tenant.metadata.name, limits });
    if (!tenantId && !findCondition(tenant.status?.conditions, TenantConditions.RateLimitsApplied)) {
      // Brand new: the tenant controller is creating its row, and reporting that status.tenantId
      // appeared (a watched change) brings us back. Saying "not provisioned" in between would cost
      // every new tenant a status write.
      return { requeueAfterMs: 30_000 };
    }

    const desired = decideRateLimitStatus(
      tenant,
      limits,
      tenantId !== undefined,
      this.deps.now?.() ?? new Date(),
    );
    // The tenant controller owns the rest of the Tenant status.
    await applyStatusIfChanged(client, tenantsRef, tenant, desired, {
      fieldManager: RATELIMIT_FIELD_MANAGER,
      current: {
        rateLimits: tenant.status?.rateLimits,
        conditions: (tenant.status?.conditions ?? []).filter(
          (c) => c.type === TenantConditions.RateLimitsApplied,
        ),
      },
    });
  }
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
