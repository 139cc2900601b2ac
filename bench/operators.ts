// Operator benchmark (`npm run bench:operators`): on a real local control plane and PostgreSQL,
//   1. cold start: the manager starts with N tenants already declared (default 2,000) — time until
//      every tenant's entitlement and rate-limit rows are written (goal <= 30 s);
//   2. plan change: time from applying a changed Plan to every affected tenant's entitlement row
//      carrying the new value (a small plan and a large one);
//   3. steady state: API and database writes per minute with nothing changing (goal: zero), while
//      usage refreshes keep running.
// Prints a summary and writes JSON (--out, default .cache/bench/operators.json).
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createPool } from "../app/db/pool.ts";
import { plans, tenants } from "../operators/api/resources.ts";
import type { Tenant } from "../operators/api/tenant.ts";
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
const tenantCount = Number(values.tenants);
const steadySeconds = Number(values["steady-seconds"]);
const smallPlanTenants = Math.max(1, Math.round(tenantCount / 20));

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
// The machine is often shared: record how busy it was, next to the numbers.
const loadAverageAtStart = loadavg().map((l) => Math.round(l * 10) / 10);
log(
  `starting a local control plane and PostgreSQL; ${tenantCount} tenants (${smallPlanTenants} on the small plan)`,
);
const platform = await startOperatorPlatform("bench");
const db = createPool(platform.db.urls.operator, 4);
const superuser = createPool(platform.db.urls.superuser, 1);
let operator: Awaited<ReturnType<typeof startOperator>> | undefined;

const count = async (sql: string, params: unknown[] = []) => Number((await db.query(sql, params)).rows[0].n);
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
async function apiWrites(probeUrl: string): Promise<{ objects: number; leases: number }> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  let objects = 0;
  let leases = 0;
  for (const line of text.split("\n")) {
    const match =
      /^rest_client_requests_total\{method="(POST|PUT|PATCH|DELETE)",resource="([^"]+)",code="\d+"\} (\d+)/.exec(
        line,
      );
    if (!match) continue;
    if (match[2] === "leases") leases += Number(match[3]);
    else objects += Number(match[3]);
  }
  return { objects, leases };
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

  // 1. Cold start.
  const coldStart = performance.now();
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
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
  const meanReconcileMs = {
    tenant: await reconcileSeconds("tenant"),
    ratelimit: await reconcileSeconds("ratelimit"),
  };
  log(
    `cold start: operator used ${coldStartCpuSeconds.toFixed(1)} CPU seconds; mean reconcile ${JSON.stringify(meanReconcileMs)} ms`,
  );
  log(`cold start: ${tenantCount} tenants provisioned in ${coldStartMs} ms (process start included)`);
  const statusStart = performance.now();
  await waitFor(
    "all tenants Ready in status",
    async () => {
      const list = await platform.admin.list<Tenant>(tenants, { namespace: TENANT_NAMESPACE });
      return (
        list.items.filter(
          (t) =>
            t.status?.conditions?.some((c) => c.type === "RateLimitsApplied" && c.status === "True") &&
            t.status.conditions.some((c) => c.type === "Ready" && c.status === "True"),
        ).length === tenantCount
      );
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  const coldStartStatusMs = coldStartMs + Math.round(performance.now() - statusStart);
  log(`cold start: every tenant's status Ready after ${coldStartStatusMs} ms`);
  await waitFor(
    "queues drained",
    async () => (await metricValue(operator!.probeUrl, "workqueue_depth")) === 0,
    { timeoutMs: 120_000 },
  );

  // 2. Plan changes.
  const smallPlanMs = await (async () => {
    await applyAs(platform.admin, plans, plan("growth", 2, 6000));
    return timeUntil(
      "growth tenants updated",
      async () =>
        (await count("SELECT count(*) AS n FROM entitlements WHERE meter = 'quotes' AND included = 6000")) ===
        smallPlanTenants,
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
        (await count("SELECT count(*) AS n FROM entitlements WHERE meter = 'quotes' AND included = 1500")) ===
        largeCount,
      300_000,
    );
  })();
  log(`plan change reaching ${largeCount} tenants: ${largePlanMs} ms`);

  // 3. Steady state: let the status writes of the plan change settle, then count writes.
  await new Promise((r) => setTimeout(r, 5000));
  await waitFor(
    "queues drained",
    async () => (await metricValue(operator!.probeUrl, "workqueue_depth")) === 0,
    { timeoutMs: 120_000 },
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

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    tenants: tenantCount,
    coldStartMs,
    coldStartStatusReadyMs: coldStartStatusMs,
    coldStartOperatorCpuSeconds: Math.round(coldStartCpuSeconds * 10) / 10,
    meanReconcileMs,
    loadAverageAtStart: loadAverageAtStart,
    planChange: {
      smallPlan: { tenants: smallPlanTenants, ms: smallPlanMs },
      largePlan: { tenants: largeCount, ms: largePlanMs },
    },
    steadyState: { windowSeconds: steadySeconds, ...steady },
  };
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result, null, 2));
} finally {
  await operator?.stop();
  await db.end();
  await superuser.end();
  await platform.stop();
}
