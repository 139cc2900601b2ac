// Tenant reconciler: gathers observations (the Tenant, its Plan, the database), lets the pure
// functions decide, and applies the difference: entitlement rows for enforcement, its part of the
// Tenant status, Events. Deleting a Tenant offboards it before the finalizer lets go.
import type { Logger } from "pino";
import type pg from "pg";
import { transaction } from "../../../app/db/pool.ts";
import { TENANT_FINALIZER } from "../../api/group.ts";
import type { Plan } from "../../api/plan.ts";
import { tenants as tenantsRef } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import type { Reconciler } from "../../runtime/controller.ts";
import type { EventRecorder } from "../../runtime/events.ts";
import { addFinalizer, removeFinalizer } from "../../runtime/finalizers.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { ObjectKey } from "../../runtime/keys.ts";
import type { KubeClient } from "../../runtime/kube.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { resolveEntitlements } from "./entitlements.ts";
import { decideTenantStatus, ownStatus, type TenantObservation } from "./status.ts";
import { offboardTenant, readUsageCounters, syncEntitlements, syncPlanRows, syncTenantRow } from "./store.ts";
import { currentUsage, periodStart } from "./usage.ts";

export const TENANT_FIELD_MANAGER = "tenant-controller";

export interface TenantReconcilerDeps {
  client: KubeClient;
  pool: pg.Pool;
  tenants: Informer<Tenant>;
  plans: Informer<Plan>;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
}

export class TenantReconciler implements Reconciler {
  private readonly deps: TenantReconcilerDeps;
  /** Plan name -> resourceVersion mirrored to the database, so 2,000 tenants do not each re-check it. */
  private readonly mirroredPlans = new Map<string, Promise<void> & { rv?: string }>();

  constructor(deps: TenantReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: ObjectKey): Promise<void> {
    const { client, tenants, plans, pool, events } = this.deps;
    const cached = tenants.get(key);
    if (!cached) return; // gone: offboarding already ran before the finalizer was removed
    if (cached.metadata.deletionTimestamp) return this.offboard(cached);

    const tenant = await addFinalizer(client, tenantsRef, cached, TENANT_FINALIZER, TENANT_FIELD_MANAGER);
    const now = this.deps.now?.() ?? new Date();
    const plan = plans.get({ name: tenant.spec.plan });
    let observation: TenantObservation;
    if (!plan) {
      observation = {
        kind: "planNotFound",
        knownPlans: plans
          .list()
          .map((p) => p.metadata.name)
          .sort(),
      };
    } else {
      const resolution = resolveEntitlements(
        plan.spec,
        tenant.spec.overrides,
        `plan "${plan.metadata.name}"`,
      );
      if (!resolution.ok) {
        observation = { kind: "invalidOverrides", problems: resolution.problems };
      } else {
        try {
          await this.mirrorPlan(plan);
          const applied = await transaction(pool, async (db) => {
            const { row } = await syncTenantRow(db, tenant);
            const changedRows = await syncEntitlements(db, row.id, resolution.entitlements);
            const counters = await readUsageCounters(db, row.id, periodStart("quotes", now));
            return { tenantId: row.id, changedRows, counters };
          });
          observation = {
            kind: "applied",
            tenantId: applied.tenantId,
            entitlements: resolution.entitlements,
            usage: currentUsage(resolution.entitlements, applied.counters, now),
            changedRows: applied.changedRows,
          };
        } catch (error) {
          const rejected = describeRejection(error, plan);
          if (!rejected) throw error;
          observation = rejected;
        }
      }
    }

    const decision = decideTenantStatus(tenant, observation, now);
    await applyStatusIfChanged(client, tenantsRef, tenant, decision.status, {
      fieldManager: TENANT_FIELD_MANAGER,
      current: ownStatus(tenant.status),
    });
    for (const event of decision.events) await events.record(tenant, event);
    // No timer: every input is watched, and usage-poller.ts enqueues tenants whose usage moved.
  }

  private async mirrorPlan(plan: Plan): Promise<void> {
    const name = plan.metadata.name;
    const rv = plan.metadata.resourceVersion;
    const existing = this.mirroredPlans.get(name);
    if (existing && existing.rv === rv) return existing;
    const pending: Promise<void> & { rv?: string } = transaction(this.deps.pool, async (db) => {
      const changed = await syncPlanRows(db, plan);
      if (changed) this.deps.log.info({ plan: name, rowsChanged: changed }, "plan mirrored to the database");
    });
    pending.rv = rv;
    this.mirroredPlans.set(name, pending);
    // A failed mirror must be retried by the next reconcile, not remembered.
    pending.catch(() => this.mirroredPlans.get(name) === pending && this.mirroredPlans.delete(name));
    return pending;
  }

  private async offboard(tenant: Tenant): Promise<void> {
    const { client, pool, events, log } = this.deps;
    if (!tenant.metadata.finalizers?.includes(TENANT_FINALIZER)) return;
    const result = await offboardTenant(pool, tenant);
    if (result.tenantId) {
      await events.record(tenant, {
        type: "Normal",
        reason: "Offboarded",
        action: "Offboard",
        note: `Tenant disabled: ${result.keysDisabled} API key(s) disabled and a data export requested (agent task data_export).`,
        dedupeKey: "offboarded",
      });
    }
    log.info({ tenant: tenant.metadata.name, ...result }, "tenant offboarded");
    await removeFinalizer(client, tenantsRef, tenant, TENANT_FINALIZER, TENANT_FIELD_MANAGER);
  }
}

/** Database refusals that a human must fix in the spec become a condition, not a retry storm. */
function describeRejection(error: unknown, plan: Plan): TenantObservation | undefined {
  const pgError = error as { code?: string; constraint?: string; detail?: string };
  if (pgError.code === "23505" && pgError.constraint === "plans_rank_key") {
    return {
      kind: "databaseRejected",
      reason: "PlanRankTaken",
      message: `Plan "${plan.metadata.name}" has rank ${plan.spec.rank}, which another plan already uses; give each Plan a unique spec.rank.`,
    };
  }
  return undefined;
}
