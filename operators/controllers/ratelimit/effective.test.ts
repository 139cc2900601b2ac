import { describe, expect, it } from "vitest";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import type { Tenant } from "../../api/tenant.ts";
import { BUILTIN_RATE_LIMITS, effectiveRateLimits, tenantsTargetedBy } from "./effective.ts";

const tenant = (name: string, plan = "growth", namespace = "tenants"): Tenant => ({
  apiVersion: "platform.freight.dev/v1alpha1",
  kind: "Tenant",
  metadata: { name, namespace },
  spec: { plan },
});
const policy = (
  name: string,
  target: RateLimitPolicy["spec"]["target"],
  limits: RateLimitPolicy["spec"]["limits"],
  created = "2026-01-01T00:00:00Z",
  namespace = "tenants",
): RateLimitPolicy => ({
  apiVersion: "platform.freight.dev/v1alpha1",
  kind: "RateLimitPolicy",
  metadata: { name, namespace, creationTimestamp: created },
  spec: { target, limits },
});
const planLimits = { rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4 } };

describe("effectiveRateLimits", () => {
  it("falls back to the built-in default when nothing applies", () => {
    expect(effectiveRateLimits([], tenant("acme"), undefined)).toMatchObject(BUILTIN_RATE_LIMITS);
  });

  it("uses the plan's limits over a Default policy", () => {
    const result = effectiveRateLimits(
      [policy("floor", { kind: "Default" }, { requestsPerSecond: 5, burst: 5, bulkJobConcurrency: 1 })],
      tenant("acme"),
      planLimits,
    );
    expect(result).toMatchObject({ requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4 });
  });

  it("applies tenant over plan policy over plan, field by field, and says where each came from", () => {
    const result = effectiveRateLimits(
      [
        policy("acme-burst", { kind: "Tenant", name: "acme" }, { burst: 500 }),
        policy("growth-rps", { kind: "Plan", name: "growth" }, { requestsPerSecond: 80, burst: 90 }),
      ],
      tenant("acme"),
      planLimits,
    );
    expect(result).toEqual({
      requestsPerSecond: 80,
      burst: 500,
      bulkJobConcurrency: 4,
      source:
        "requestsPerSecond=plan-policy/growth-rps, burst=tenant-policy/acme-burst, bulkJobConcurrency=plan/growth",
    });
  });

  it("ignores policies of other namespaces, tenants and plans; the oldest of equals wins", () => {
    const result = effectiveRateLimits(
      [
        policy(
          "other-ns",
          { kind: "Tenant", name: "acme" },
          { requestsPerSecond: 1 },
          undefined,
          "elsewhere",
        ),
        policy("other-tenant", { kind: "Tenant", name: "globex" }, { requestsPerSecond: 2 }),
        policy("other-plan", { kind: "Plan", name: "starter" }, { requestsPerSecond: 3 }),
        policy("newer", { kind: "Tenant", name: "acme" }, { requestsPerSecond: 7 }, "2026-02-01T00:00:00Z"),
        policy("older", { kind: "Tenant", name: "acme" }, { requestsPerSecond: 6 }, "2026-01-15T00:00:00Z"),
      ],
      tenant("acme"),
      planLimits,
    );
    expect(result.requestsPerSecond).toBe(6);
  });
});

describe("tenantsTargetedBy", () => {
  it("maps a policy to the tenants it affects", () => {
    const all = [tenant("acme"), tenant("globex", "starter"), tenant("initech", "growth", "other")];
    expect(tenantsTargetedBy(policy("d", { kind: "Default" }, { burst: 1 }), all)).toEqual([
      { namespace: "tenants", name: "acme" },
      { namespace: "tenants", name: "globex" },
    ]);
    expect(tenantsTargetedBy(policy("p", { kind: "Plan", name: "starter" }, { burst: 1 }), all)).toEqual([
      { namespace: "tenants", name: "globex" },
    ]);
    expect(tenantsTargetedBy(policy("t", { kind: "Tenant", name: "acme" }, { burst: 1 }), all)).toEqual([
      { namespace: "tenants", name: "acme" },
    ]);
  });
});
