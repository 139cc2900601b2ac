// Whether a RateLimitPolicy takes effect. With field-by-field precedence a policy can be entirely
// shadowed (by a higher-precedence or older policy setting the same fields), or target nothing;
// status says so, so nobody trusts a policy that does nothing. Pure.
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy, RateLimitPolicyStatus } from "../../api/ratelimitpolicy.ts";
import type { Tenant } from "../../api/tenant.ts";
import { setCondition } from "../../runtime/conditions.ts";
import { keyOf, keyString } from "../../runtime/keys.ts";
import { effectiveRateLimits, tenantsTargetedBy } from "./effective.ts";

export function policySourceLabel(policy: RateLimitPolicy): string {
  return `${policy.spec.target.kind.toLowerCase()}-policy/${policy.metadata.name}`;
}

export function decidePolicyStatus(
  policy: RateLimitPolicy,
  policies: readonly RateLimitPolicy[],
  tenants: readonly Tenant[],
  planOf: (name: string) => Plan | undefined,
  now: Date,
): RateLimitPolicyStatus {
  const targeted = new Set(tenantsTargetedBy(policy, tenants).map(keyString));
  const label = policySourceLabel(policy);
  const affected = tenants.filter((t) => {
    if (!targeted.has(keyString(keyOf(t)))) return false;
    const source = effectiveRateLimits(policies, t, planOf(t.spec.plan)?.spec).source;
    return source.split(", ").some((entry) => entry.endsWith(`=${label}`));
  }).length;
  const { kind, name } = policy.spec.target;
  const what = kind === "Default" ? `tenants in namespace ${policy.metadata.namespace}` : `${kind} "${name}"`;
  const condition =
    affected > 0
      ? {
          status: "True" as const,
          reason: "Applied",
          message: `Sets rate limits of ${affected} tenant(s) (${what}).`,
        }
      : targeted.size === 0
        ? {
            status: "False" as const,
            reason: "NoTargetTenants",
            message: `No tenant matches the target (${what}); it takes effect when one does.`,
          }
        : {
            status: "False" as const,
            reason: "Overridden",
            message: `Every limit it sets is taken from a policy or plan of higher precedence for all ${targeted.size} targeted tenant(s) (Tenant > Plan policy > Plan > Default; the oldest of equal policies wins).`,
          };
  return {
    observedGeneration: policy.metadata.generation,
    tenantsAffected: affected,
    conditions: setCondition(
      policy.status?.conditions?.filter((c) => c.type === "Effective"),
      { type: "Effective", ...condition },
      policy.metadata.generation,
      now,
    ),
  };
}
