import { describe, expect, it } from "vitest";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import type { Tenant } from "../../api/tenant.ts";
import { decidePolicyStatus } from "./policy-status.ts";

const now = new Date("2026-03-01T00:00:00Z");
const tenant = (name: string, plan = "pro"): Tenant => ({
  apiVersion: "platform.freight.dev/v1alpha1",
  kind: "Tenant",
  metadata: { name, namespace: "tenants" },
  spec: { plan },
});
const policy = (
  name: string,
  target: RateLimitPolicy["spec"]["target"],
  limits: RateLimitPolicy["spec"]["limits"],
  created: string,
): RateLimitPolicy => ({
  apiVersion: "platform.freight.dev/v1alpha1",
  kind: "RateLimitPolicy",
  metadata: { name, namespace: "tenants", generation: 2, creationTimestamp: created },
  spec: { target, limits },
});

describe("decidePolicyStatus", () => {
  const older = policy("older", { kind: "Plan", name: "pro" }, { burst: 50 }, "2026-01-01T00:00:00Z");
  const newer = policy("newer", { kind: "Plan", name: "pro" }, { burst: 60 }, "2026-02-01T00:00:00Z");
  const tenants = [tenant("acme"), tenant("globex"), tenant("initech", "starter")];

  it("counts the tenants that take a value from the policy", () => {
    const status = decidePolicyStatus(older, [older, newer], tenants, () => undefined, now);
    expect(status.tenantsAffected).toBe(2);
    expect(status.conditions?.[0]).toMatchObject({
      type: "Effective",
      status: "True",
      reason: "Applied",
      observedGeneration: 2,
    });
  });

  it("says when every field is overridden, and when nothing is targeted", () => {
    expect(
      decidePolicyStatus(newer, [older, newer], tenants, () => undefined, now).conditions?.[0],
    ).toMatchObject({
      status: "False",
      reason: "Overridden",
    });
    const orphan = policy("orphan", { kind: "Tenant", name: "nobody" }, { burst: 1 }, "2026-01-01T00:00:00Z");
    expect(decidePolicyStatus(orphan, [orphan], tenants, () => undefined, now)).toMatchObject({
      tenantsAffected: 0,
      conditions: [expect.objectContaining({ reason: "NoTargetTenants" })],
    });
  });
});
