// Effective rate limits of one tenant. Precedence, field by field: a RateLimitPolicy targeting the
// tenant, then one targeting its plan, then the Plan's own spec.rateLimits, then a Default policy
// of the namespace, then the built-in default. Among policies with the same target, the oldest
// wins (then the name), so adding a second policy never silently changes limits. Pure.
import type { PlanSpec, RateLimits } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import type { EffectiveRateLimits, Tenant } from "../../api/tenant.ts";
import { keyOf, type ObjectKey } from "../../runtime/keys.ts";

/** Applies when nothing else says anything: modest, so a misconfigured tenant cannot flood the API. */
export const BUILTIN_RATE_LIMITS: RateLimits = { requestsPerSecond: 10, burst: 20, bulkJobConcurrency: 1 };

const FIELDS = ["requestsPerSecond", "burst", "bulkJobConcurrency"] as const;

interface Layer {
  source: string;
  limits: Partial<RateLimits>;
}

function byAge(a: RateLimitPolicy, b: RateLimitPolicy): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  return ta === tb ? a.metadata.name.localeCompare(b.metadata.name) : ta.localeCompare(tb);
}

/** The policies that apply to the tenant, highest precedence first. */
export function applicablePolicies(policies: readonly RateLimitPolicy[], tenant: Tenant): RateLimitPolicy[] {
  const ns = tenant.metadata.namespace;
  const inNamespace = policies.filter((p) => p.metadata.namespace === ns && !p.metadata.deletionTimestamp);
  const targeting = (kind: string, name?: string) =>
    inNamespace.filter((p) => p.spec.target.kind === kind && p.spec.target.name === name).sort(byAge);
  return [
    ...targeting("Tenant", tenant.metadata.name),
    ...targeting("Plan", tenant.spec.plan),
    ...targeting("Default", undefined),
  ];
}

export function effectiveRateLimits(
  policies: readonly RateLimitPolicy[],
  tenant: Tenant,
  plan: Pick<PlanSpec, "rateLimits"> | undefined,
): EffectiveRateLimits {
  const applicable = applicablePolicies(policies, tenant);
  const policyLayer = (p: RateLimitPolicy): Layer => ({
    source: `${p.spec.target.kind.toLowerCase()}-policy/${p.metadata.name}`,
    limits: p.spec.limits,
  });
  const layers: Layer[] = [
    ...applicable.filter((p) => p.spec.target.kind !== "Default").map(policyLayer),
    ...(plan?.rateLimits ? [{ source: `plan/${tenant.spec.plan}`, limits: plan.rateLimits }] : []),
    ...applicable.filter((p) => p.spec.target.kind === "Default").map(policyLayer),
    { source: "builtin-default", limits: BUILTIN_RATE_LIMITS },
  ];
  const result = { ...BUILTIN_RATE_LIMITS };
  const sources: string[] = [];
  for (const field of FIELDS) {
    const layer = layers.find((l) => l.limits[field] !== undefined)!;
    result[field] = layer.limits[field]!;
    sources.push(`${field}=${layer.source}`);
  }
  return { ...result, source: sources.join(", ") };
}

/** Keys of the tenants a policy applies to. */
export function tenantsTargetedBy(policy: RateLimitPolicy, tenants: readonly Tenant[]): ObjectKey[] {
  const ns = policy.metadata.namespace;
  return tenants
    .filter((t) => t.metadata.namespace === ns)
    .filter((t) => {
      const { kind, name } = policy.spec.target;
      if (kind === "Default") return true;
      if (kind === "Plan") return t.spec.plan === name;
      return t.metadata.name === name;
    })
    .map(keyOf);
}
