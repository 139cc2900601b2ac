// Aggregate gauges read on scrape from the read-only ops connection (all tenants, no tenant labels).
// Without OPS_DATABASE_URL they keep their last value; the request metrics need no database. A read
// that fails (the ops connection points at a server that became the primary after a flip, where
// freight_ops may not read; a replica that is down) also leaves them at their last values, among them
// the replication lag the RPO alert reads: so each success is stamped, each failure counted, and
// AggregateGaugesStale pages when the stamp stops moving.
import type { AppContext } from "../http/app.ts";
import { queueStats } from "../jobs/scaling.ts";
import { usageWarningCounts } from "../ops/usage-warnings.ts";
import { slaBreaches } from "../support/tickets.ts";
import { openDsrRequestsByDue, openPenTestFindings } from "../compliance/evidence-sources.ts";
import { PEN_TEST_SEVERITIES } from "../compliance/pen-test-findings.ts";

const MIN_INTERVAL_MS = 10_000;
/** Per app (its metrics registry), so two apps in one process do not share the interval. */
const lastRefresh = new WeakMap<object, number>();

export async function refreshAggregateGauges(ctx: AppContext, now = Date.now()): Promise<void> {
  // region_serving and writes_frozen follow the region_routing row: app/routing/router.ts sets them.
  const { metrics } = ctx;
  if (!ctx.opsPool || now - (lastRefresh.get(metrics) ?? 0) < MIN_INTERVAL_MS) return;
  lastRefresh.set(metrics, now);
  try {
    await readAggregateGauges(ctx, ctx.opsPool);
    metrics.aggregateGaugesLastSuccess.set(Date.now() / 1000);
  } catch (error) {
    metrics.aggregateGaugesRefreshFailures.inc();
    throw error;
  }
}

async function readAggregateGauges(ctx: AppContext, ops: NonNullable<AppContext["opsPool"]>): Promise<void> {
  const { metrics } = ctx;
  const [warnings, lag, queue, breaches, dsr, findings] = await Promise.all([
    usageWarningCounts(ops),
    ops.query<{ lag: number | null }>(
      `SELECT CASE WHEN pg_is_in_recovery()
                   THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())
                   ELSE (SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication)
              END::float8 AS lag`,
    ),
    queueStats(ops),
    slaBreaches(ops),
    openDsrRequestsByDue(ops),
    openPenTestFindings(ops),
  ]);
  for (const b of breaches)
    metrics.supportTicketsBreached.set({ priority: b.priority, clock: b.clock }, b.tickets);
  metrics.meterWarningTenants.reset();
  for (const row of warnings)
    metrics.meterWarningTenants.set({ meter: row.meter, level: row.level }, row.tenants);
  metrics.dbReplicationLagSeconds.set(lag.rows[0]?.lag ?? 0);
  metrics.dsrRequestsOpen.set({ due: "overdue" }, dsr.overdue);
  metrics.dsrRequestsOpen.set({ due: "due_soon" }, dsr.dueSoon);
  metrics.dsrRequestsOpen.set({ due: "later" }, dsr.later);
  // Every severity and due state is exported, zeros included: an alert's absence means none, not no data.
  metrics.penTestFindingsOpen.reset();
  for (const severity of PEN_TEST_SEVERITIES)
    for (const due of ["overdue", "due_soon", "later"] as const)
      metrics.penTestFindingsOpen.set({ finding_severity: severity, due }, 0);
  for (const f of findings)
    metrics.penTestFindingsOpen.set({ finding_severity: f.severity, due: f.due }, f.findings);
  for (const q of queue) {
    metrics.jobsQueueDepth.set({ queue: q.queue }, q.depth);
    metrics.jobsOldestAgeSeconds.set({ queue: q.queue }, q.oldestAgeSeconds);
  }
}
