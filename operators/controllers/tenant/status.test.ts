import { describe, expect, it } from "vitest";
import type { Tenant } from "../../api/tenant.ts";
import { decideTenantStatus, thresholdEvents } from "./status.ts";

const now = new Date("2026-03-17T12:00:00Z");
const tenant = (status?: Tenant["status"]): Tenant => ({
  apiVersion: "platform.freight.dev/v1alpha1",
  kind: "Tenant",
  metadata: { name: "acme", namespace: "tenants", generation: 4, uid: "u1" },
  spec: { plan: "growth" },
  status,
});
const usage = (used: number) => ({
  meter: "quotes" as const,
  periodStart: "2026-03-01T00:00:00Z",
  used,
  included: 1000,
  percent: Math.floor(used / 10),
  level: (used >= 1000 ? 100 : used >= 900 ? 90 : used >= 800 ? 80 : 0) as 0 | 80 | 90 | 100,
});

describe("decideTenantStatus", () => {
  it("reports an unknown plan as a False condition with a reason, keeping what is enforced", () => {
    const before = tenant({ tenantId: "t1", entitlements: [], warningLevel: 0 });
    const { status, events } = decideTenantStatus(
      before,
      { kind: "planNotFound", knownPlans: ["starter", "growth-2"] },
      now,
    );
    const ready = status.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "PlanNotFound", observedGeneration: 4 });
    expect(ready?.message).toContain('Plan "growth" does not exist');
    expect(ready?.message).toContain("starter, growth-2");
    expect(status.tenantId).toBe("t1");
    expect(events.map((e) => e.reason)).toEqual(["PlanNotFound"]);
  });

  it("reports applied entitlements, usage and the highest warning level", () => {
    const { status } = decideTenantStatus(
      tenant(),
      {
        kind: "applied",
        tenantId: "t1",
        entitlements: [
          {
            meter: "quotes",
            period: "month",
            included: 1000,
            overageAllowed: false,
            hardCeiling: 1000,
            source: "override",
          },
        ],
        usage: [usage(912)],
        changedRows: 1,
      },
      now,
    );
    expect(status.warningLevel).toBe(90);
    expect(status.observedGeneration).toBe(4);
    expect(status.conditions?.map((c) => [c.type, c.status])).toEqual([
      ["PlanResolved", "True"],
      ["EntitlementsApplied", "True"],
      ["Ready", "True"],
    ]);
    expect(status.conditions?.find((c) => c.type === "Ready")?.message).toContain(
      "with overrides for quotes",
    );
  });

  it("keeps the RateLimitsApplied condition and the limits as they are (the same write carries them)", () => {
    const applied = {
      type: "RateLimitsApplied",
      status: "True" as const,
      reason: "Applied",
      message: "10 req/s",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    };
    const rateLimits = { requestsPerSecond: 10, burst: 20, bulkJobConcurrency: 1, source: "builtin-default" };
    const before = tenant({ conditions: [applied], rateLimits });
    const { status } = decideTenantStatus(before, { kind: "invalidOverrides", problems: ["x"] }, now);
    // Left out, server-side apply would remove them from the Tenant.
    expect(status.conditions?.find((c) => c.type === "RateLimitsApplied")).toEqual(applied);
    expect(status.rateLimits).toEqual(rateLimits);
  });
});

describe("thresholdEvents", () => {
  it("emits one event, for the highest level, when usage rises past thresholds", () => {
    const events = thresholdEvents([usage(500)], [usage(950)]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      reason: "UsageThresholdCrossed",
      dedupeKey: "usage/quotes/2026-03-01T00:00:00Z/90",
    });
    expect(events[0]!.note).toContain("950 of 1000");
  });

  it("stays quiet when the level is unchanged or falls", () => {
    expect(thresholdEvents([usage(850)], [usage(860)])).toEqual([]);
    expect(thresholdEvents([usage(950)], [{ ...usage(10), periodStart: "2026-04-01T00:00:00Z" }])).toEqual(
      [],
    );
  });
});
