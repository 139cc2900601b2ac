import { describe, expect, it } from "vitest";
import type { PlanSpec } from "../../api/plan.ts";
import { resolveEntitlements } from "./entitlements.ts";

const growth: Pick<PlanSpec, "meters"> = {
  meters: [
    { name: "quotes", included: 1000, overageAllowed: true, overageUnitPriceCents: 5, hardCeiling: 5000 },
    { name: "bulk_jobs", included: 10, overageAllowed: false, hardCeiling: 10 },
  ],
};

describe("resolveEntitlements", () => {
  it("takes the plan's allowance with each meter's period", () => {
    const result = resolveEntitlements(growth, undefined);
    expect(result).toEqual({
      ok: true,
      entitlements: [
        {
          meter: "bulk_jobs",
          period: "day",
          included: 10,
          overageAllowed: false,
          hardCeiling: 10,
          source: "plan",
        },
        {
          meter: "quotes",
          period: "month",
          included: 1000,
          overageAllowed: true,
          overageUnitPriceCents: 5,
          hardCeiling: 5000,
          source: "plan",
        },
      ],
    });
  });

  it("lays an override over the plan field by field and marks the source", () => {
    const result = resolveEntitlements(growth, [{ meter: "quotes", included: 3000, reason: "TICKET-42" }]);
    expect(result.ok && result.entitlements.find((e) => e.meter === "quotes")).toEqual({
      meter: "quotes",
      period: "month",
      included: 3000,
      overageAllowed: true,
      overageUnitPriceCents: 5,
      hardCeiling: 5000,
      source: "override",
    });
  });

  it("drops the plan's overage price when an override turns overage off", () => {
    const result = resolveEntitlements(growth, [
      { meter: "quotes", overageAllowed: false, reason: "fraud hold" },
    ]);
    const quotes = result.ok ? result.entitlements.find((e) => e.meter === "quotes") : undefined;
    expect(quotes?.overageAllowed).toBe(false);
    expect(quotes).not.toHaveProperty("overageUnitPriceCents");
  });

  it("reports an override that puts the ceiling below the included quantity", () => {
    const result = resolveEntitlements(
      growth,
      [{ meter: "quotes", included: 6000, reason: "x" }],
      'plan "growth"',
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        'override for meter "quotes" leaves hardCeiling 5000 below included 6000; raise hardCeiling',
      ],
    });
  });

  it("grants a meter the plan lacks only when the override says included and hardCeiling", () => {
    expect(resolveEntitlements(growth, [{ meter: "directory_invites", included: 5, reason: "x" }]).ok).toBe(
      false,
    );
    const granted = resolveEntitlements(growth, [
      { meter: "directory_invites", included: 5, hardCeiling: 5, reason: "x" },
    ]);
    expect(granted.ok && granted.entitlements.map((e) => e.meter)).toEqual([
      "bulk_jobs",
      "directory_invites",
      "quotes",
    ]);
  });

  it("reports an overage price on a meter without overage", () => {
    const result = resolveEntitlements(growth, [
      { meter: "bulk_jobs", overageUnitPriceCents: 100, reason: "x" },
    ]);
    expect(result.ok).toBe(false);
  });
});
