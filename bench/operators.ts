// Operator benchmark (`npm run bench:operators`): on a real local control plane and PostgreSQL,
//   1. cold start: the manager starts with N tenants already declared (default 2,000), as deployed
//      (its ServiceAccount, its heap flags) — time until every tenant's entitlement and rate-limit
//      rows are written (goal <= 30 s), and until a watch sees every Tenant's status Ready;
//   2. plan change: time from applying a changed Plan to every affected tenant's entitlement row
//      carrying the new value (a small plan and a large one);
//   3. steady state: API and database writes per minute with nothing changing (goal: zero), while
//      usage refreshes keep running;
//   4. ceiling: the API server's own write rate for the same writes with no operator (fresh Tenants
//      each get a status the operator wrote at cold start, as a first server-side apply, plus
//      finalizer merge patches if the operator sent any; from 64 parallel clients), and the
//      operator's cold-start write rate as a ratio of it; plus the operator process's peak RSS
//      (goal <= 400 MB).
// The platform applies the admission policies as the stacks deploy them, so Tenants are declared
// with the offboarding finalizer already on.
// `--tenants 1000,5000,10000` runs each count on a fresh control plane and database, for the
// scaling curve. Prints a summary and writes JSON (--out, default .cache/bench/operators.json).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createPool } from "../app/db/pool.ts";
import { pino } from "pino";
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from "../operators/api/group.ts";
import { plans, tenants } from "../operators/api/resources.ts";
import { Informer } from "../operators/runtime/informer.ts";
import type { KubeClient } from "../operators/runtime/kube.ts";
import type { Tenant, TenantStatus } from "../operators/api/tenant.ts";
import {
  applyAs,
  metricValue,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
} from "../tools/platform/operators.ts";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "2000" },
    "steady-seconds": { type: "string", default: "60" },
    out: {
      type: "string",
      default: join(resolve(import.meta.dirname, ".."), ".cache", "bench", "operators.json"),
    },
  },
});
const tenantCounts = values.tenants!.split(",").map((n) => Number(n.trim()));
if (!tenantCounts.length || tenantCounts.some((n) => !Number.isInteger(n) || n < 20)) {
  throw new Error(
    `--tenants takes whole numbers of at least 20, comma-separated (e.g. 1000,5000,10000); got "${values.tenants}"`,
  );
}
const steadySeconds = Number(values["steady-seconds"]);

const plan = (name: string, rank: number, included: number) => ({
  kind: "Plan",
  metadata: { name },
  spec: {
    displayName: name,
    rank,
    meters: [
      { name: "quotes", included, overageAllowed: false, hardCeiling: included * 2 },
      { name: "bulk_jobs", included: 5, overageAllowed: false, hardCeiling: 5 },
    ],
    rateLimits: { requestsPerSecond: 10, burst: 20, bulkJobConcurrency: 2 },
  },
});

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const log = (line: string) => console.log(`[bench:operators] ${line}`);

/** Peak resident set of a process (VmHWM), in MB: what the operator needed at its worst. */
function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/**
 * Follows every Tenant through a watch and notes when `expected` of them carry Ready
 * and RateLimitsApplied true at once (`allReadyAt`, taken when the last watch event arrives), and
 * when the first was (`firstReadyAt`): between the two the operator writes statuses and nothing else.
 */
function watchReady(admin: KubeClient, expected: number, signal: AbortSignal) {
  const informer = new Informer<Tenant>(admin, tenants, { log: pino({ level: "silent" }), resyncMs: 0 });
  const ready = new Set<string>();
  let firstReadyAt: number | undefined;
  let allReadyAt: number | undefined;
  const track = (t: Tenant) => {
    const isReady = ["Ready", "RateLimitsApplied"].every((type) =>
      t.status?.conditions?.some((c) => c.type === type && c.status === "True"),
    );
    if (isReady) {
      ready.add(t.metadata.name!);
      firstReadyAt ??= performance.now();
    } else ready.delete(t.metadata.name!);
    if (allReadyAt === undefined && ready.size === expected) {
      allReadyAt = performance.now();
    }
  };
  informer.on({ added: track, updated: track, deleted: (t) => ready.delete(t.metadata.name!) });
  void informer.run(signal);
  return {
    synced: informer.waitForSync(signal),
    /** Each Tenant's status as last seen, by name. */
    statuses: () =>
      informer.list().map((t): [string, TenantStatus | undefined] => [t.metadata.name!, t.status]),
    get firstReadyAt() {
      return firstReadyAt;
    },
    get allReadyAt() {
      return allReadyAt;
    },
  };
}

async function runAt(tenantCount: number) {
  const smallPlanTenants = Math.max(1, Math.round(tenantCount / 20));
  // A plan change's status writes trail its database update at the API server's write rate (tens
  // per second on a loaded 2-core machine): 10,000 tenants need minutes, not the 2 a smaller run does.
  const drainTimeoutMs = Math.max(120_000, tenantCount * 60);
  // The machine is often shared: record how busy it was, next to the numbers.
  const loadAverageAtStart = loadavg().map((l) => Math.round(l * 10) / 10);
  log(
    `starting a local control plane and PostgreSQL; ${tenantCount} tenants (${smallPlanTenants} on the small plan)`,
  );
  const platform = await startOperatorPlatform("bench");
  const db = createPool(platform.db.urls.operator, 4);
  const superuser = createPool(platform.db.urls.superuser, 1);
  let operator: Awaited<ReturnType<typeof startOperator>> | undefined;
  const watchAbort = new AbortController();

  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db.query(sql, params)).rows[0].n);
  async function timeUntil(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    await waitFor(what, async () => done(), { timeoutMs, intervalMs: 50 });
    return Math.round(performance.now() - t0);
  }
  /** Rows written (inserted, updated, deleted) in the tables the operators own. */
  async function tableWrites(): Promise<number> {
    await superuser.query("SELECT pg_stat_force_next_flush()");
    const { rows } = await superuser.query(
      `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables
      WHERE relname IN ('tenants', 'entitlements', 'tenant_rate_limits', 'plans', 'plan_meters', 'plan_rate_limits', 'agent_tasks', 'api_keys')`,
    );
    return Number(rows[0].n);
  }
  /** Object writes by verb and resource ("PATCH tenants/status"), and lease renewals apart. */
  async function apiWrites(
    probeUrl: string,
  ): Promise<{ objects: number; leases: number; byKind: Record<string, number> }> {
    const text = await (await fetch(`${probeUrl}/metrics`)).text();
    let objects = 0;
    let leases = 0;
    const byKind: Record<string, number> = {};
    for (const line of text.split("\n")) {
      const match =
        /^rest_client_requests_total\{method="(POST|PUT|PATCH|DELETE)",resource="([^"]+)",code="\d+"\} (\d+)/.exec(
          line,
        );
      if (!match) continue;
      if (match[2] === "leases") {
        leases += Number(match[3]);
        continue;
      }
      objects += Number(match[3]);
      const kind = `${match[1]} ${match[2]}`;
      byKind[kind] = (byKind[kind] ?? 0) + Number(match[3]);
    }
    return { objects, leases, byKind };
  }

  try {
    await applyAs(platform.admin, plans, plan("starter", 1, 1000));
    await applyAs(platform.admin, plans, plan("growth", 2, 5000));
    const names = Array.from({ length: tenantCount }, (_, i) => `tenant-${String(i).padStart(5, "0")}`);
    const declareStart = performance.now();
    await inParallel(names, 16, (name) =>
      applyAs(platform.admin, tenants, {
        kind: "Tenant",
        metadata: { name, namespace: TENANT_NAMESPACE },
        spec: { plan: Number(name.slice(-5)) < smallPlanTenants ? "growth" : "starter" },
      }),
    );
    log(`declared ${tenantCount} tenants in ${Math.round(performance.now() - declareStart)} ms`);

    // 1. Cold start. Readiness is followed by a watch, as a client would (a LIST of 10,000
    // Tenants every second cost the API server more than the status writes it was measuring).
    const readyTenants = watchReady(platform.admin, tenantCount, watchAbort.signal);
    await readyTenants.synced;
    const coldStart = performance.now();
    // As deployed: the operators' ServiceAccount with its RBAC, not the admin certificate.
    const credentials = await platform.cluster.serviceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
    operator = await startOperator({
      kubeconfigPath: credentials.kubeconfigPath,
      databaseUrl: platform.db.urls.operator,
      identity: "bench",
      env: { USAGE_REFRESH_SECONDS: "15", LOG_LEVEL: "warn" },
    });
    await waitFor(
      "all tenants provisioned",
      async () =>
        (await count("SELECT count(*) AS n FROM entitlements WHERE meter = 'quotes'")) === tenantCount &&
        (await count("SELECT count(*) AS n FROM tenant_rate_limits")) === tenantCount,
      { timeoutMs: 600_000, intervalMs: 100 },
    );
    const coldStartMs = Math.round(performance.now() - coldStart);
    const coldStartCpuSeconds = await metricValue(operator.probeUrl, "process_cpu_seconds_total");
    const reconcileSeconds = async (controller: string) => {
      const sum = await metricValue(operator!.probeUrl, "controller_runtime_reconcile_time_seconds_sum", {
        controller,
      });
      const n = await metricValue(operator!.probeUrl, "controller_runtime_reconcile_time_seconds_count", {
        controller,
      });
      return n ? Math.round((sum / n) * 1000) : 0;
    };
    const meanReconcileMs = { tenant: await reconcileSeconds("tenant") };
    log(
      `cold start: operator used ${coldStartCpuSeconds.toFixed(1)} CPU seconds; mean reconcile ${JSON.stringify(meanReconcileMs)} ms`,
    );
    log(`cold start: ${tenantCount} tenants provisioned in ${coldStartMs} ms (process start included)`);
    await waitFor("all tenants Ready in status", async () => readyTenants.allReadyAt !== undefined, {
      timeoutMs: 600_000,
      intervalMs: 50,
    });
    const coldStartStatusMs = Math.round(readyTenants.allReadyAt! - coldStart);
    const statusPhaseSeconds = (readyTenants.allReadyAt! - readyTenants.firstReadyAt!) / 1000;
    const coldStartStatusCpuSeconds = await metricValue(operator.probeUrl, "process_cpu_seconds_total");
    const coldStartApi = await apiWrites(operator.probeUrl);
    const readyMemory = {
      peakRssMb: peakRssMb(operator.child.pid!),
      heapUsedMb: Math.round((await metricValue(operator.probeUrl, "nodejs_heap_size_used_bytes")) / 2 ** 20),
    };
    // The ceiling below writes these statuses again, to fresh Tenants, without the operator.
    const coldStartStatuses = new Map(readyTenants.statuses());
    log(
      `cold start: every tenant's status Ready after ${coldStartStatusMs} ms (operator CPU ${coldStartStatusCpuSeconds.toFixed(1)} s, ` +
        `peak RSS ${readyMemory.peakRssMb} MB, heap used ${readyMemory.heapUsedMb} MB by then)`,
    );
    // What a new tenant costs the API server: every object write of the cold start, per tenant.
    const writesPerTenant = Math.round((coldStartApi.objects / tenantCount) * 100) / 100;
    log(
      `cold start: ${coldStartApi.objects} API object writes = ${writesPerTenant} per tenant (${Object.entries(
        coldStartApi.byKind,
      )
        .map(([kind, n]) => `${kind}: ${n}`)
        .join(", ")})`,
    );
    await waitFor(
      "queues drained",
      async () =>
        (await metricValue(operator!.probeUrl, "workqueue_depth")) === 0 &&
        (await metricValue(operator!.probeUrl, "tenant_status_writes_pending")) === 0,
      { timeoutMs: drainTimeoutMs },
    );

    // 2. Plan changes.
    const smallPlanMs = await (async () => {
      await applyAs(platform.admin, plans, plan("growth", 2, 6000));
      return timeUntil(
        "growth tenants updated",
        async () =>
          (await count(
            "SELECT count(*) AS n FROM entitlements WHERE meter = 'quotes' AND included = 6000",
          )) === smallPlanTenants,
        120_000,
      );
    })();
    log(`plan change reaching ${smallPlanTenants} tenants: ${smallPlanMs} ms`);
    const largeCount = tenantCount - smallPlanTenants;
    const largePlanMs = await (async () => {
      await applyAs(platform.admin, plans, plan("starter", 1, 1500));
      return timeUntil(
        "starter tenants updated",
        async () =>
          (await count(
            "SELECT count(*) AS n FROM entitlements WHERE meter = 'quotes' AND included = 1500",
          )) === largeCount,
        300_000,
      );
    })();
    log(`plan change reaching ${largeCount} tenants: ${largePlanMs} ms`);

    // 3. Steady state: let the status writes of the plan change settle, then count writes.
    await new Promise((r) => setTimeout(r, 5000));
    await waitFor(
      "queues drained",
      async () =>
        (await metricValue(operator!.probeUrl, "workqueue_depth")) === 0 &&
        (await metricValue(operator!.probeUrl, "tenant_status_writes_pending")) === 0,
      { timeoutMs: drainTimeoutMs },
    );
    // The queue depth does not count reconciles still running: settled means no reconcile
    // finished for 5 s either.
    let lastReconciles = -1;
    await waitFor(
      "reconciles settled",
      async () => {
        const total = await metricValue(operator!.probeUrl, "controller_runtime_reconcile_total");
        const settled = total === lastReconciles;
        lastReconciles = total;
        return settled;
      },
      { timeoutMs: 300_000, intervalMs: 5000 },
    );
    const apiBefore = await apiWrites(operator.probeUrl);
    const dbBefore = await tableWrites();
    const reconcilesBefore = await metricValue(operator.probeUrl, "controller_runtime_reconcile_total");
    log(`steady state: measuring for ${steadySeconds} s with usage refreshes every 15 s...`);
    await new Promise((r) => setTimeout(r, steadySeconds * 1000));
    const apiAfter = await apiWrites(operator.probeUrl);
    const dbAfter = await tableWrites();
    const reconciles =
      (await metricValue(operator.probeUrl, "controller_runtime_reconcile_total")) - reconcilesBefore;
    const perMinute = (n: number) => Math.round((n * 60) / steadySeconds);
    const steady = {
      apiObjectWritesPerMinute: perMinute(apiAfter.objects - apiBefore.objects),
      leaseRenewalsPerMinute: perMinute(apiAfter.leases - apiBefore.leases),
      databaseRowWritesPerMinute: perMinute(dbAfter - dbBefore),
      reconcilesPerMinute: perMinute(reconciles),
    };
    log(
      `steady state: ${steady.apiObjectWritesPerMinute} API object writes/min, ${steady.databaseRowWritesPerMinute} database row writes/min ` +
        `(${steady.reconcilesPerMinute} reconciles/min; ${steady.leaseRenewalsPerMinute} leader-lease renewals/min)`,
    );

    const peakRss = peakRssMb(operator.child.pid!);
    const coldStartWrites = coldStartApi.objects;
    await operator.stop();
    operator = undefined;

    // 4. Ceiling: the same writes a new tenant cost, by the API server alone. Fresh Tenants are
    // declared (not timed), then each gets the status the operator wrote to one of the originals
    // at cold start, as a first status write under one field manager, from 64 clients; finalizer
    // patches too, if the operator sent any.
    const perTenant = (kind: string) => Math.round((coldStartApi.byKind[kind] ?? 0) / tenantCount);
    const finalizerPatches = perTenant("PATCH tenants");
    const statusWrites = Math.max(1, perTenant("PATCH tenants/status"));
    const ceilingWrites = (finalizerPatches + statusWrites) * tenantCount;
    const twins = names.map((name) => `ceiling-${name.slice("tenant-".length)}`);
    await inParallel(twins, 16, (twin) =>
      applyAs(platform.admin, tenants, {
        kind: "Tenant",
        metadata: { name: twin, namespace: TENANT_NAMESPACE },
        spec: { plan: "starter" },
      }),
    );
    log(
      `ceiling: ${ceilingWrites} writes (per tenant ${finalizerPatches} finalizer patch(es) + ${statusWrites} status apply(s), ` +
        `the operator's cold-start statuses) from 64 parallel clients...`,
    );
    const ceilingStart = performance.now();
    await inParallel(names, 64, async (name) => {
      const twin = `ceiling-${name.slice("tenant-".length)}`;
      for (let i = 0; i < finalizerPatches; i++) {
        await platform.admin.mergePatch(
          tenants,
          twin,
          { metadata: { finalizers: [`platform.freight.dev/bench-ceiling-${i}`] } },
          { namespace: TENANT_NAMESPACE, fieldManager: "bench-ceiling" },
        );
      }
      for (let i = 0; i < statusWrites; i++) {
        await platform.admin.apply(
          tenants,
          {
            apiVersion: `${tenants.group}/${tenants.version}`,
            kind: "Tenant",
            metadata: { name: twin, namespace: TENANT_NAMESPACE },
            status: coldStartStatuses.get(name),
          } as never,
          { fieldManager: "bench-ceiling", subresource: "status", force: true },
        );
      }
    });
    const ceilingSeconds = (performance.now() - ceilingStart) / 1000;
    // The readiness watch ran through the operator's writes and the ceiling's alike.
    watchAbort.abort();
    const ceilingWritesPerSecond = Math.round(ceilingWrites / ceilingSeconds);
    // Two rates for the operator: over the whole cold start (process start, informer sync and
    // provisioning included), and over its status phase alone (first Tenant Ready to the last).
    const operatorWritesPerSecond = Math.round(coldStartWrites / (coldStartStatusMs / 1000));
    const statusPhaseWritesPerSecond = Math.round(coldStartWrites / statusPhaseSeconds);
    const ceiling = {
      writesPerTenant: finalizerPatches + statusWrites,
      writesPerSecond: ceilingWritesPerSecond,
      coldStartMs: Math.round(ceilingSeconds * 1000),
      operatorColdStartWrites: coldStartWrites,
      operatorWritesPerSecond,
      ratio: Math.round((operatorWritesPerSecond / ceilingWritesPerSecond) * 100) / 100,
      statusPhaseWritesPerSecond,
      statusPhaseRatio: Math.round((statusPhaseWritesPerSecond / ceilingWritesPerSecond) * 100) / 100,
    };
    log(
      `ceiling: the API server alone takes ${ceilingWritesPerSecond} writes/s (${ceiling.coldStartMs} ms for ${tenantCount} tenants' writes); ` +
        `the operator's cold start wrote ${coldStartWrites} objects at ${operatorWritesPerSecond}/s = ${ceiling.ratio}x ` +
        `(${statusPhaseWritesPerSecond}/s = ${ceiling.statusPhaseRatio}x from the first Tenant Ready to the last); operator peak RSS ${peakRss} MB`,
    );

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      tenants: tenantCount,
      coldStartMs,
      coldStartStatusReadyMs: coldStartStatusMs,
      coldStartOperatorCpuSeconds: Math.round(coldStartCpuSeconds * 10) / 10,
      coldStartApiWrites: {
        total: coldStartApi.objects,
        perTenant: writesPerTenant,
        byKind: coldStartApi.byKind,
      },
      meanReconcileMs,
      loadAverageAtStart: loadAverageAtStart,
      planChange: {
        smallPlan: { tenants: smallPlanTenants, ms: smallPlanMs },
        largePlan: { tenants: largeCount, ms: largePlanMs },
      },
      steadyState: { windowSeconds: steadySeconds, ...steady },
      ceiling,
      operatorPeakRssMb: peakRss,
    };
    return result;
  } finally {
    watchAbort.abort();
    await operator?.stop();
    await db.end();
    await superuser.end();
    await platform.stop();
  }
}

const results = [];
mkdirSync(dirname(values.out!), { recursive: true });
for (const count of tenantCounts) {
  results.push(await runAt(count));
  // Written after each count, so a later count that fails does not lose the earlier ones.
  writeFileSync(values.out!, JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
}
console.log(JSON.stringify(results, null, 2));
log(
  "curve: " +
    results
      .map(
        (r) =>
          `${r.tenants} tenants: cold start ${r.coldStartStatusReadyMs} ms (${r.coldStartApiWrites.perTenant} API writes per tenant), plan change (${r.planChange.largePlan.tenants}) ${r.planChange.largePlan.ms} ms, ` +
          `${r.ceiling.ratio}x of the API server's write rate, peak RSS ${r.operatorPeakRssMb} MB`,
      )
      .join("; "),
);
