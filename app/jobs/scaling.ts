// The scaling signal: runnable work waiting now (delayed retries excluded), across both queues the
// runners work through. KEDA runs QUEUE_DEPTH_SQL with the runners' DATABASE_URL (the freight_runner
// role, which sees every tenant's queue rows); the gauges report the same figures per queue.
import type pg from "pg";

// A standby region's replica holds the same queue rows, but its runners cannot work them until it is
// promoted: it reports no depth, so KEDA does not scale up runners that would only hold.
export const QUEUE_DEPTH_SQL =
  "SELECT CASE WHEN pg_is_in_recovery() THEN 0 ELSE" +
  " (SELECT count(*) FROM jobs WHERE state IN ('queued','retrying') AND run_after <= now())" +
  " + (SELECT count(*) FROM agent_tasks WHERE status IN ('queued','retrying') AND run_after <= now()) END";

export const QUEUES = ["bulk_rating", "agent_tasks"] as const;
export type QueueName = (typeof QUEUES)[number];

const QUEUE_STATS_SQL = `
SELECT 'bulk_rating' AS queue, count(*)::int AS depth, extract(epoch FROM now() - min(run_after))::float8 AS oldest
  FROM jobs WHERE state IN ('queued', 'retrying') AND run_after <= now()
UNION ALL
SELECT 'agent_tasks', count(*)::int, extract(epoch FROM now() - min(run_after))::float8
  FROM agent_tasks WHERE status IN ('queued', 'retrying') AND run_after <= now()`;

export interface QueueStats {
  queue: QueueName;
  depth: number;
  /** Seconds the oldest runnable item has waited; 0 when the queue is empty. */
  oldestAgeSeconds: number;
}

/** Depth and oldest age per queue, read with a role that sees every tenant (runner or ops). */
export async function queueStats(reader: pg.Pool): Promise<QueueStats[]> {
  const { rows } = await reader.query<{ queue: QueueName; depth: number; oldest: number | null }>(
    QUEUE_STATS_SQL,
  );
  return rows.map((row) => ({
    queue: row.queue,
    depth: row.depth,
    oldestAgeSeconds: Math.max(0, row.oldest ?? 0),
  }));
}
