// What the tenant controller reports: its part of Tenant status and the Events a human should see,
// decided from the tenant, what was observed and applied, and the time. Pure.
import type { MeterUsage, Tenant, TenantStatus, Entitlement } from "../../api/tenant.ts";
import { TenantConditions } from "../../api/tenant.ts";
import type { WarningLevel } from "../../api/meters.ts";
import { setCondition, type ConditionInput } from "../../runtime/conditions.ts";
import type { EventInput } from "../../runtime/events.ts";
import { canonical } from "../../runtime/status.ts";

/**
 * The condition types this controller owns: all of the Tenant's. RateLimitsApplied is decided by
 * ratelimit/reconciler.ts (decideRateLimitStatus) and written in the same status write.
 */
export const TENANT_CONTROLLER_CONDITIONS: string[] = [
  TenantConditions.PlanResolved,
  TenantConditions.EntitlementsApplied,
  TenantConditions.Ready,
  TenantConditions.RateLimitsApplied,
];

export type TenantObservation =
  | { kind: "planNotFound"; knownPlans: string[] }
  | { kind: "invalidOverrides"; problems: string[] }
  | { kind: "databaseRejected"; reason: string; message: string }
  | {
      kind: "applied";
      tenantId: string;
      entitlements: Entitlement[];
      usage: MeterUsage[];
      changedRows: number;
    };

/**
 * The status fields the tenant controller owns: the whole Tenant status, so a new tenant costs one
 * status write (server-side apply releases what it leaves out).
 */
export type TenantControllerStatus = Pick<
  TenantStatus,
  "observedGeneration" | "tenantId" | "entitlements" | "usage" | "warningLevel" | "conditions" | "rateLimits"
>;

export interface TenantStatusDecision {
  status: TenantControllerStatus;
  events: EventInput[];
}

export function ownStatus(status: TenantStatus | undefined): TenantControllerStatus {
  const own: TenantControllerStatus = {
    observedGeneration: status?.observedGeneration,
    tenantId: status?.tenantId,
    entitlements: status?.entitlements,
    usage: status?.usage,
    warningLevel: status?.warningLevel,
    conditions: status?.conditions?.filter((c) => TENANT_CONTROLLER_CONDITIONS.includes(c.type)),
    rateLimits: status?.rateLimits,
  };
  return own;
}

export function decideTenantStatus(
  tenant: Tenant,
  observation: TenantObservation,
  now: Date,
): TenantStatusDecision {
  const generation = tenant.metadata.generation;
  const previous = ownStatus(tenant.status);
  const planName = tenant.spec.plan;
  // Until something new is applied, status keeps describing what is still enforced.
  const status: TenantControllerStatus = { ...previous, observedGeneration: generation };
  const events: EventInput[] = [];
  let conditions = previous.conditions ?? [];
  const set = (input: ConditionInput) => (conditions = setCondition(conditions, input, generation, now));

  switch (observation.kind) {
    case "planNotFound": {
      const known = observation.knownPlans.length ? observation.knownPlans.join(", ") : "none exist yet";
      const message = `Plan "${planName}" does not exist; create it or set spec.plan to an existing plan (${known}). The previous entitlements stay enforced.`;
      set({ type: TenantConditions.PlanResolved, status: "False", reason: "PlanNotFound", message });
      set({ type: TenantConditions.Ready, status: "False", reason: "PlanNotFound", message });
      events.push({
        type: "Warning",
        reason: "PlanNotFound",
        action: "ResolvePlan",
        note: message,
        dedupeKey: `plan-not-found/${planName}/${generation}`,
      });
      break;
    }
    case "invalidOverrides": {
      const message = `spec.overrides cannot be applied to plan "${planName}": ${observation.problems.join("; ")}. The previous entitlements stay enforced.`;
      set({
        type: TenantConditions.PlanResolved,
        status: "True",
        reason: "PlanFound",
        message: `Plan "${planName}" exists.`,
      });
      set({
        type: TenantConditions.EntitlementsApplied,
        status: "False",
        reason: "InvalidOverride",
        message,
      });
      set({ type: TenantConditions.Ready, status: "False", reason: "InvalidOverride", message });
      events.push({
        type: "Warning",
        reason: "InvalidOverride",
        action: "ResolveEntitlements",
        note: message,
        dedupeKey: `invalid-override/${generation}`,
      });
      break;
    }
    case "databaseRejected": {
      set({
        type: TenantConditions.PlanResolved,
        status: "True",
        reason: "PlanFound",
        message: `Plan "${planName}" exists.`,
      });
      set({
        type: TenantConditions.EntitlementsApplied,
        status: "False",
        reason: observation.reason,
        message: observation.message,
      });
      set({
        type: TenantConditions.Ready,
        status: "False",
        reason: observation.reason,
        message: observation.message,
      });
      break;
    }
    case "applied": {
      status.tenantId = observation.tenantId;
      status.entitlements = observation.entitlements;
      status.usage = observation.usage;
      status.warningLevel = observation.usage.reduce<WarningLevel>(
        (max, u) => (u.level > max ? u.level : max),
        0,
      );
      const overridden = observation.entitlements.filter((e) => e.source === "override").map((e) => e.meter);
      const summary =
        `${observation.entitlements.length} meter(s) enforced from plan "${planName}"` +
        (overridden.length ? ` with overrides for ${overridden.join(", ")}` : "");
      set({
        type: TenantConditions.PlanResolved,
        status: "True",
        reason: "PlanFound",
        message: `Plan "${planName}" exists.`,
      });
      set({
        type: TenantConditions.EntitlementsApplied,
        status: "True",
        reason: "Applied",
        message: summary + ".",
      });
      set({ type: TenantConditions.Ready, status: "True", reason: "Applied", message: summary + "." });
      events.push(...thresholdEvents(previous.usage ?? [], observation.usage));
      // A change to what an existing tenant is entitled to is news; first provisioning is not
      // (status says it, and 2,000 tenants starting up should not mean 2,000 Events).
      // A plan-wide update may have written the rows already (changedRows 0 here): what the
      // tenant is told is measured against what its status last reported.
      const changed = Math.max(
        observation.changedRows,
        changedEntitlements(previous.entitlements ?? [], observation.entitlements),
      );
      if (changed > 0 && previous.entitlements !== undefined) {
        events.push({
          type: "Normal",
          reason: "EntitlementsUpdated",
          action: "ApplyEntitlements",
          note: `${summary}; ${changed} entitlement row(s) changed.`,
        });
      }
      break;
    }
  }
  status.conditions = conditions;
  return { status, events };
}

/** How many meters' entitlements differ between two reports (added, removed or changed). */
export function changedEntitlements(
  previous: readonly Entitlement[],
  current: readonly Entitlement[],
): number {
  const key = (e: Entitlement) => canonical(e);
  const before = new Map(previous.map((e) => [e.meter, key(e)]));
  let changed = previous.filter((p) => !current.some((c) => c.meter === p.meter)).length;
  for (const e of current) if (before.get(e.meter) !== key(e)) changed++;
  return changed;
}

/** One Event per meter whose warning level rose within its current period (the highest level reached). */
export function thresholdEvents(
  previous: readonly MeterUsage[],
  current: readonly MeterUsage[],
): EventInput[] {
  const events: EventInput[] = [];
  for (const usage of current) {
    const before = previous.find((p) => p.meter === usage.meter && p.periodStart === usage.periodStart);
    const beforeLevel = before?.level ?? 0;
    if (usage.level <= beforeLevel) continue;
    events.push({
      type: "Warning",
      reason: "UsageThresholdCrossed",
      action: "ReportUsage",
      note: `${usage.meter} usage reached ${usage.level}% of the included quantity: ${usage.used} of ${usage.included} used this period (since ${usage.periodStart}).`,
      dedupeKey: `usage/${usage.meter}/${usage.periodStart}/${usage.level}`,
    });
  }
  return events;
}
