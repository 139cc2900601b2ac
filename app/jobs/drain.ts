// "Are background jobs drained in this region?" for the failover controller: every live runner of the
// region has stopped claiming and finished (paused or drained), and no lease taken by one of them is
// still live. A runner killed without a word stops heartbeating; its leases expire and the work goes
// back to the queue, so it counts as drained once its leases have expired.
import type pg from "pg";

export interface DrainStatus {
  drained: boolean;
  /** Jobs and agent tasks still being worked by this region's runners (reported or leased). */
  inFlight: number;
  /** Live runners in the region (heartbeat within the staleness window). */
  runners: number;
  /** Live runners per state, for status messages ("2 draining, 1 paused"). */
  states: Record<string, number>;
}

/** A runner that has not written its heartbeat for this long is gone (its leases decide the rest). */
export const STALE_HEARTBEAT_SECONDS = 30;

export async function runnersDrained(
  pool: pg.Pool,
  region: string,
  options: { staleSeconds?: number } = {},
): Promise<DrainStatus> {
  const staleSeconds = options.staleSeconds ?? STALE_HEARTBEAT_SECONDS;
  const { rows } = await pool.query<{ state: string; runners: number; in_flight: number }>(
    `SELECT state, count(*)::int AS runners, sum(in_flight)::int AS in_flight
       FROM runner_heartbeats
      WHERE region = $1 AND updated_at > now() - make_interval(secs => $2)
      GROUP BY state`,
    [region, staleSeconds],
  );
  const leases = await pool.query<{ leased: number }>(
    `WITH region_runners AS (SELECT runner_id FROM runner_heartbeats WHERE region = $1)
     SELECT (SELECT count(*) FROM jobs
              WHERE state = 'running' AND lease_expires_at > now() AND lease_owner IN (SELECT runner_id FROM region_runners))
          + (SELECT count(*) FROM agent_tasks
              WHERE status = 'running' AND lease_expires_at > now() AND lease_owner IN (SELECT runner_id FROM region_runners))
            AS leased`,
    [region],
  );
  const states: Record<string, number> = {};
  let runners = 0;
  let reported = 0;
  for (const row of rows) {
    states[row.state] = row.runners;
    runners += row.runners;
    reported += row.in_flight;
  }
  const leased = Number(leases.rows[0]?.leased ?? 0);
  const busy = (states.running ?? 0) + (states.draining ?? 0);
  return {
    drained: busy === 0 && leased === 0 && reported === 0,
    inFlight: Math.max(reported, leased),
    runners,
    states,
  };
}
