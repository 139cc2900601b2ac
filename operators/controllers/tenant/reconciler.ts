// Tenant reconciler: gathers observations (the Tenant, its Plan, the rate-limit policies, the
// database), lets the pure functions decide, and applies the difference: entitlement and rate-limit
// rows for enforcement, then hands the Tenant status (one write, rate limits included) and its
// Events to the status writer, which sends them at the API server's pace. Deleting a Tenant
// offboards it before the finalizer lets go.
import type { Logger } from "pino";
import type pg from "pg";
import { transaction } from "../../../app/db/pool.ts";
import { TENANT_FINALIZER } from "../../api/group.ts";
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { tenants as tenantsRef } from "../../api/resources.ts";
import { TenantConditions, type Entitlement, type Tenant } from "../../api/tenant.ts";
import type { Condition } from "../../api/types.ts";
import type { Reconciler } from "../../runtime/controller.ts";
import type { EventRecorder } from "../../runtime/events.ts";
import { addFinalizer, removeFinalizer } from "../../runtime/finalizers.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { ObjectKey } from "../../runtime/keys.ts";
import { isNotFound, type KubeClient } from "../../runtime/kube.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { resolveEntitlements } from "./entitlements.ts";
import { decideTenantStatus, ownStatus, type TenantObservation } from "./status.ts";
import { Batcher } from "../../runtime/batcher.ts";
import type { StatusWriter } from "../../runtime/status-writer.ts";
import {
  provisionTenants,
  syncPlanEntitlements,
  type TenantProvisioned,
  type TenantProvisioning,
} from "./provisioning.ts";
import { offboardTenant, syncPlanRows } from "./store.ts";
import { effectiveRateLimits } from "../ratelimit/effective.ts";
import { decideRateLimitStatus } from "../ratelimit/reconciler.ts";
import {
  syncTenantRateLimits,
  type TenantRateLimits,
  type TenantRateLimitsSynced,
} from "../ratelimit/store.ts";
import { currentUsage, periodStart } from "./usage.ts";

export const TENANT_FIELD_MANAGER = "tenant-controller";

export interface TenantReconcilerDeps {
  client: KubeClient;
  pool: pg.Pool;
  tenants: Informer<Tenant>;
  plans: Informer<Plan>;
  policies: Informer<RateLimitPolicy>;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
  /** Where status writes go once the database rows are in (runs while the manager leads). */
  statusWriter: StatusWriter;
  /** Whether a reconcile of `key` is queued (it will decide the status again). */
  isQueued?: (key: ObjectKey) => boolean;
  /** Most tenants provisioned in one transaction. */
  maxBatch?: number;
}

/** Per Plan: the resourceVersion mirrored to the database, and the mirror running or queued. */
interface PlanMirror {
  mirroredRv?: string;
  tail: Promise<void>;
  queued?: Promise<void>;
}

export class TenantReconciler implements Reconciler {
  private readonly deps: TenantReconcilerDeps;
  private readonly mirrors = new Map<string, PlanMirror>();
  private readonly provisioning: Batcher<TenantProvisioning, TenantProvisioned>;
  /** Rate limits of tenants whose plan does not resolve (the provisioning batch writes the others'). */
  private readonly rateLimits: Batcher<TenantRateLimits, TenantRateLimitsSynced>;
  /**
   * Tenants this process provisioned, until their deletion is handled. A DELETE that read the
   * object before our finalizer landed can still remove it outright (seen with 1,000 tenants created
   * and deleted in a burst), after our status write succeeded: no deletionTimestamp ever shows, only
   * the key's disappearance, and this is what says there is something to offboard. One entry per
   * live tenant (the informer holds the objects themselves); a restarted process starts empty.
   */
  private readonly provisioned = new Map<string, Tenant>();
  /** Per tenant, how many reconciles started: a status decided by an older one is not written. */
  private readonly reconcileCount = new Map<string, number>();

  constructor(deps: TenantReconcilerDeps) {
    this.deps = deps;
    this.provisioning = new Batcher({
      run: (items) => provisionTenants(deps.pool, items),
      maxBatch: deps.maxBatch ?? 500,
    });
    this.rateLimits = new Batcher({
      run: (items) => syncTenantRateLimits(deps.pool, items),
      maxBatch: deps.maxBatch ?? 500,
    });
  }

  async reconcile(key: ObjectKey): Promise<void> {
    const { client, tenants, plans, policies, events } = this.deps;
    const cached = tenants.get(key);
    const id = `${key.namespace}/${key.name}`;
    const count = (this.reconcileCount.get(id) ?? 0) + 1;
    this.reconcileCount.set(id, count);
    if (!cached) {
      this.reconcileCount.delete(id);
      // Gone. Normally offboarding ran before the finalizer was removed (and forgot it here).
      const vanished = this.provisioned.get(id);
      this.provisioned.delete(id);
      this.deps.statusWriter.forget(id);
      if (vanished) await this.offboardVanished(vanished);
      return;
    }
    if (cached.metadata.deletionTimestamp) {
      this.provisioned.delete(id);
      this.deps.statusWriter.forget(id);
      return this.offboard(cached);
    }

    const tenant = await addFinalizer(client, tenantsRef, cached, TENANT_FINALIZER, TENANT_FIELD_MANAGER);
    const now = this.deps.now?.() ?? new Date();
    const plan = plans.get({ name: tenant.spec.plan });
    // The limits apply whether or not the plan resolves (a Plan policy or the default still does).
    const rateLimits = effectiveRateLimits(policies.list(), tenant, plan?.spec);
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
          const applied = await this.provisioning.submit({
            tenant,
            entitlements: resolution.entitlements,
            rateLimits,
            usageSince: periodStart("quotes", now),
          });
          this.provisioned.set(id, tenant);
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

    // The tenant's row holds its rate limits once it exists: written in the provisioning batch, or
    // here for a tenant whose plan does not resolve (a row from before, or none yet).
    const tenantId =
      observation.kind === "applied"
        ? observation.tenantId
        : (await this.rateLimits.submit({ slug: tenant.metadata.name, limits: rateLimits })).tenantId;

    const decision = decideTenantStatus(tenant, observation, now);
    const status = { ...decision.status };
    const hadRateLimits = tenant.status?.conditions?.some(
      (c) => c.type === TenantConditions.RateLimitsApplied,
    );
    // A tenant without a row that never reported limits says nothing about them yet: its plan's
    // condition already says why it is not provisioned.
    if (tenantId !== undefined || hadRateLimits) {
      const limits = decideRateLimitStatus(tenant, rateLimits, tenantId !== undefined, now);
      status.rateLimits = limits.rateLimits;
      status.conditions = replaceCondition(status.conditions ?? [], limits.conditions[0]!);
    }
    // The rows enforcement reads are committed: the status write trails at the API server's pace
    // without holding this worker (status-writer.ts). It compares with, and writes to, the newest
    // cached Tenant; a newer generation's reconcile is queued and decides again.
    // A newer reconcile (started or queued, e.g. a Plan edited again) writes its own status instead:
    // under churn the API server gets the last status, not every one.
    const generation = tenant.metadata.generation;
    this.deps.statusWriter.submit(id, async () => {
      if (this.reconcileCount.get(id) !== count || this.deps.isQueued?.(key)) return;
      const latest = tenants.get(key);
      // Gone or going: a tenant deleted meanwhile is offboarded by the reconcile of its deletion.
      if (!latest || latest.metadata.deletionTimestamp || latest.metadata.generation !== generation) return;
      try {
        await applyStatusIfChanged(client, tenantsRef, latest, status, {
          fieldManager: TENANT_FIELD_MANAGER,
          current: ownStatus(latest.status),
        });
      } catch (error) {
        // Deleted after our read: its deletion's reconcile offboards what we provisioned.
        if (isNotFound(error)) return;
        throw error;
      }
      for (const event of decision.events) await events.record(latest, event);
    });
    // No timer: every input is watched, and usage-poller.ts enqueues tenants whose usage moved.
  }

  /**
   * Mirrors a Plan to the database once per resourceVersion, with every provisioned tenant's
   * entitlements in the same transaction. Mirrors of one plan run one after another and each reads
   * the newest cached Plan when it starts, so a plan edited 50 times a second costs one mirror per
   * mirror's duration, never an older version committed after a newer one.
   */
  private mirrorPlan(plan: Plan): Promise<void> {
    const name = plan.metadata.name;
    let mirror = this.mirrors.get(name);
    if (!mirror) this.mirrors.set(name, (mirror = { tail: Promise.resolve() }));
    if (mirror.mirroredRv === plan.metadata.resourceVersion) return Promise.resolve();
    // One not yet started will read a Plan at least as new as ours.
    if (mirror.queued) return mirror.queued;
    const state = mirror;
    const run = state.tail
      .catch(() => undefined)
      .then(async () => {
        state.queued = undefined;
        const latest = this.deps.plans.get({ name }) ?? plan;
        if (state.mirroredRv === latest.metadata.resourceVersion) return;
        await transaction(this.deps.pool, async (db) => {
          // Another manager finishing its last mirror after losing the lease must not interleave.
          await db.query("SELECT pg_advisory_xact_lock(hashtext('freight.plan-mirror:' || $1))", [name]);
          const changed = await syncPlanRows(db, latest);
          const rows = await syncPlanEntitlements(db, this.entitlementsOnPlan(latest));
          if (changed || rows)
            this.deps.log.info(
              { plan: name, planRowsChanged: changed, entitlementRowsChanged: rows },
              "plan mirrored to the database",
            );
        });
        state.mirroredRv = latest.metadata.resourceVersion;
      });
    state.queued = run;
    state.tail = run;
    return run;
  }

  /** The effective entitlements of every live tenant on `plan` whose overrides resolve, by slug. */
  private entitlementsOnPlan(plan: Plan): Map<string, Entitlement[]> {
    const desired = new Map<string, Entitlement[]>();
    for (const tenant of this.deps.tenants.list()) {
      if (tenant.spec.plan !== plan.metadata.name || tenant.metadata.deletionTimestamp) continue;
      const resolution = resolveEntitlements(plan.spec, tenant.spec.overrides);
      if (resolution.ok) desired.set(tenant.metadata.name, resolution.entitlements);
    }
    return desired;
  }

  /** Offboards a provisioned tenant deleted without our finalizer (idempotent: one export per uid). */
  private async offboardVanished(tenant: Tenant): Promise<void> {
    const result = await offboardTenant(this.deps.pool, tenant);
    this.deps.log.warn(
      { tenant: tenant.metadata.name, ...result },
      "tenant deleted without the finalizer while being provisioned; offboarded",
    );
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

/** `conditions` with `condition` in place of the one of its type (appended when there is none). */
function replaceCondition(conditions: Condition[], condition: Condition): Condition[] {
  const at = conditions.findIndex((c) => c.type === condition.type);
  if (at < 0) return [...conditions, condition];
  return conditions.map((c, i) => (i === at ? condition : c));
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
