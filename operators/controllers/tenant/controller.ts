// Wires the tenant reconciler into a manager: reconcile a Tenant when it changes, every tenant on a
// Plan when that Plan changes, and every tenant a RateLimitPolicy targets when the policy changes
// (before and after the change); poll usage; and sweep for tenants deleted behind our back.
import type { Logger } from "pino";
import { Gauge } from "prom-client";
import type pg from "pg";
import { TENANT_FINALIZER } from "../../api/group.ts";
import type { Plan } from "../../api/plan.ts";
import type { RateLimitPolicy } from "../../api/ratelimitpolicy.ts";
import { plans as plansRef, rateLimitPolicies, tenants as tenantsRef } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import { backoffDelay } from "../../runtime/backoff.ts";
import { Controller } from "../../runtime/controller.ts";
import { keyString } from "../../runtime/keys.ts";
import { StatusWriter } from "../../runtime/status-writer.ts";
import { EventRecorder } from "../../runtime/events.ts";
import type { Manager } from "../../runtime/manager.ts";
import {
  annotationsChanged,
  deletionChanged,
  finalizersChanged,
  generationChanged,
  labelsChanged,
  or,
  specOrMetadataChanged,
} from "../../runtime/predicates.ts";
import { tenantsTargetedBy } from "../ratelimit/effective.ts";
import { tenantsOnPlan } from "./mappers.ts";
import { TenantReconciler } from "./reconciler.ts";
import { pollUsage } from "./usage-poller.ts";
import { runTenantSweep, sweepMetrics } from "./sweep.ts";

/** Reconcile again after a failed status write: 100 ms, doubling, at most 30 s. */
const STATUS_RETRY = { baseMs: 100, maxMs: 30_000, jitter: 0.2 };

export function addTenantController(
  manager: Manager,
  options: {
    pool: pg.Pool;
    usageRefreshMs: number;
    /**
     * How often enabled database tenants are compared with the Tenant objects (sweep.ts). The
     * manager process always sets it; a test or benchmark hosting this controller alone omits it.
     */
    sweepIntervalMs?: number;
    workers?: number;
    log?: Logger;
  },
): Controller {
  const tenants = manager.informer<Tenant>(tenantsRef);
  const plans = manager.informer<Plan>(plansRef);
  const policies = manager.informer<RateLimitPolicy>(rateLimitPolicies);
  const log = (options.log ?? manager.log).child({ controller: "tenant" });
  // Status writes leave the reconcile once the database rows are committed. A failed write is
  // not retried as such: the tenant is reconciled again after a backoff and decides afresh.
  const statusWriter = new StatusWriter({
    window: () => manager.client.concurrency.limit,
    onFailure: (key, error, attempt) => {
      const retryInMs = backoffDelay(attempt - 1, STATUS_RETRY);
      log.warn(
        { key, err: (error as Error).message, retryInMs },
        "tenant status write failed; reconciling again",
      );
      controller.queue.addAfter(key, retryInMs);
    },
  });
  const reconciler = new TenantReconciler({
    client: manager.client,
    pool: options.pool,
    tenants,
    plans,
    policies,
    events: new EventRecorder(
      manager.client,
      "platform.freight.dev/tenant-controller",
      manager.identity,
      log,
    ),
    log,
    statusWriter,
    isQueued: (key): boolean => controller.queue.isQueued(keyString(key)),
  });
  const controller: Controller = new Controller({
    name: "tenant",
    reconciler,
    workers: options.workers ?? 8,
  });
  // Status is ours, and so is the finalizer we add: writing either must not wake us again. Someone
  // removing our finalizer does.
  controller.watch(tenants, {
    predicates: [
      or(
        generationChanged,
        deletionChanged,
        finalizersChanged({ ignoreAdded: TENANT_FINALIZER }),
        labelsChanged,
        annotationsChanged,
      ),
    ],
  });
  controller.watch(plans, { map: tenantsOnPlan(tenants), predicates: [specOrMetadataChanged] });
  controller.watch(policies, {
    map: (policy) => tenantsTargetedBy(policy, tenants.list()),
    predicates: [specOrMetadataChanged],
  });
  manager.add(controller);
  new Gauge({
    name: "tenant_status_writes_pending",
    help: "Tenant status writes waiting or in flight: status trailing the committed database rows.",
    registers: [manager.metrics.registry],
    collect() {
      this.set(statusWriter.pending + statusWriter.active);
    },
  });
  // A runnable: it writes only while this manager leads, and stops when leadership is lost.
  manager.addRunnable("tenant-status-writer", (signal) => statusWriter.run(signal));
  manager.addRunnable("usage-poller", (signal) =>
    pollUsage({
      pool: options.pool,
      tenants,
      enqueue: (key) => controller.enqueue(key),
      intervalMs: options.usageRefreshMs,
      signal,
      log,
    }),
  );
  const { sweepIntervalMs } = options;
  if (sweepIntervalMs !== undefined) {
    const metrics = sweepMetrics(manager.metrics.registry);
    manager.addRunnable("tenant-sweep", (signal) =>
      runTenantSweep({
        pool: options.pool,
        client: manager.client,
        tenants,
        log,
        metrics,
        intervalMs: sweepIntervalMs,
        signal,
      }),
    );
  }
  return controller;
}
