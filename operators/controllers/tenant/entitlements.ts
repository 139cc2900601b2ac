// Effective entitlements: the plan's allowance per meter with the tenant's overrides laid over it,
// field by field. Pure; the reconciler writes the result to the `entitlements` table the app
// enforces from. What the CRD schema cannot check (it sees one object at a time) is checked here
// against the plan, and reported as problems instead of written.
import { METERS, isMeterName } from "../../api/meters.ts";
import type { MeterAllowance, PlanSpec } from "../../api/plan.ts";
import type { Entitlement, MeterOverride } from "../../api/tenant.ts";

export type EntitlementResolution =
  { ok: true; entitlements: Entitlement[] } | { ok: false; problems: string[] };

export function resolveEntitlements(
  plan: Pick<PlanSpec, "meters">,
  overrides: readonly MeterOverride[] | undefined,
  planName = "the plan",
): EntitlementResolution {
  const problems: string[] = [];
  const byMeter = new Map<string, Entitlement>();
  for (const allowance of plan.meters) {
    if (!isMeterName(allowance.name)) {
      problems.push(`${planName} lists unknown meter "${allowance.name}"`);
      continue;
    }
    byMeter.set(allowance.name, fromAllowance(allowance));
  }
  for (const override of overrides ?? []) {
    if (!isMeterName(override.meter)) {
      problems.push(`override for unknown meter "${override.meter}"`);
      continue;
    }
    const base = byMeter.get(override.meter);
    let merged: Entitlement;
    if (base) {
      merged = { ...base, source: "override" };
      if (override.included !== undefined) merged.included = override.included;
      if (override.hardCeiling !== undefined) merged.hardCeiling = override.hardCeiling;
      if (override.overageAllowed !== undefined) merged.overageAllowed = override.overageAllowed;
      if (override.overageUnitPriceCents !== undefined)
        merged.overageUnitPriceCents = override.overageUnitPriceCents;
      // Turning overage off makes the plan's price meaningless; the override did not set one.
      if (override.overageAllowed === false && override.overageUnitPriceCents === undefined) {
        delete merged.overageUnitPriceCents;
      }
    } else if (override.included !== undefined && override.hardCeiling !== undefined) {
      // A meter the plan does not include, granted outright: the override must say everything.
      merged = {
        meter: override.meter,
        period: METERS[override.meter].period,
        included: override.included,
        hardCeiling: override.hardCeiling,
        overageAllowed: override.overageAllowed ?? false,
        source: "override",
      };
      if (override.overageUnitPriceCents !== undefined)
        merged.overageUnitPriceCents = override.overageUnitPriceCents;
    } else {
      problems.push(
        `override for meter "${override.meter}", which ${planName} does not include, must set both included and hardCeiling`,
      );
      continue;
    }
    if (merged.hardCeiling < merged.included) {
      problems.push(
        `override for meter "${override.meter}" leaves hardCeiling ${merged.hardCeiling} below included ${merged.included}; raise hardCeiling`,
      );
    }
    if (merged.overageUnitPriceCents !== undefined && !merged.overageAllowed) {
      problems.push(
        `override for meter "${override.meter}" sets overageUnitPriceCents but overage is not allowed; set overageAllowed: true`,
      );
    }
    byMeter.set(override.meter, merged);
  }
  if (problems.length > 0) return { ok: false, problems };
  const entitlements = [...byMeter.values()].sort((a, b) => a.meter.localeCompare(b.meter));
  return { ok: true, entitlements };
}

function fromAllowance(allowance: MeterAllowance): Entitlement {
  const entitlement: Entitlement = {
    meter: allowance.name,
    period: METERS[allowance.name].period,
    included: allowance.included,
    overageAllowed: allowance.overageAllowed,
    hardCeiling: allowance.hardCeiling,
    source: "plan",
  };
  if (allowance.overageAllowed && allowance.overageUnitPriceCents !== undefined) {
    entitlement.overageUnitPriceCents = allowance.overageUnitPriceCents;
  }
  return entitlement;
}
