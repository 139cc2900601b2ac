// The runners' side of the two queues (bulk rating jobs and agent tasks): claim with a lease, renew
// it, settle guarded by the lease token, hand expired leases back. Every settle is a no-op when the
// token no longer matches, so a runner that lost its lease cannot double an effect.
import type pg from "pg";
import { withTenant } from "../db/pool.ts";
import type { ModelPricedQuote, QuotePricing } from "../pricing/quote-pricing.ts";
import { priceLane } from "./lanes.ts";

export interface ClaimedBulkJob {
  id: string;
  tenantId: string;
  attempts: number;
  maxAttempts: number;
  leaseToken: string;
  lanesTotal: number;
  /** When the job became runnable (enqueued, or its retry came due). */
  runAfter: Date;
}

export interface ClaimedAgentTask {
  id: string;
  tenantId: string;
  kind: string;
  payload: Record<string, unknown>;
  attempts: number;
  maxAttempts: number;
  leaseToken: string;
  runAfter: Date;
  createdAt: Date;
}

export async function claimBulkJobs(
  pool: pg.Pool,
  owner: string,
  max: number,
  leaseSeconds: number,
): Promise<ClaimedBulkJob[]> {
  if (max <= 0) return [];
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    attempts: number;
    max_attempts: number;
    lease_token: string;
    lanes_total: number;
    run_after: Date;
  }>("SELECT * FROM claim_bulk_jobs($1, $2, $3)", [owner, max, leaseSeconds]);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    leaseToken: r.lease_token,
    lanesTotal: r.lanes_total,
    runAfter: r.run_after,
  }));
}

export async function claimAgentTasks(
  pool: pg.Pool,
  owner: string,
  max: number,
  leaseSeconds: number,
): Promise<ClaimedAgentTask[]> {
  if (max <= 0) return [];
  const { rows } = await pool.query<{
    id: string;
    tenant_id: string;
    kind: string;
    payload: Record<string, unknown>;
    attempts: number;
    max_attempts: number;
    lease_token: string;
    run_after: Date;
    created_at: Date;
  }>("SELECT * FROM claim_agent_tasks($1, $2, $3)", [owner, max, leaseSeconds]);
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    payload: r.payload,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    leaseToken: r.lease_token,
    runAfter: r.run_after,
    createdAt: r.created_at,
  }));
}

/** Moves the deadline of the leases this runner still holds; returns the tokens it no longer holds. */
export async function renewLeases(
  pool: pg.Pool,
  tokens: { bulk: string[]; agent: string[] },
  leaseSeconds: number,
): Promise<string[]> {
  if (!tokens.bulk.length && !tokens.agent.length) return [];
  const { rows } = await pool.query<{ token: string }>(
    `WITH b AS (UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
                 WHERE lease_token = ANY($1::uuid[]) AND state = 'running' RETURNING lease_token),
          a AS (UPDATE agent_tasks SET lease_expires_at = now() + make_interval(secs => $3)
                 WHERE lease_token = ANY($2::uuid[]) AND status = 'running' RETURNING lease_token)
     SELECT t::text AS token FROM unnest($1::uuid[] || $2::uuid[]) t
      WHERE t NOT IN (SELECT lease_token FROM b UNION ALL SELECT lease_token FROM a)`,
    [tokens.bulk, tokens.agent, leaseSeconds],
  );
  return rows.map((r) => r.token);
}

export interface ReapedTask {
  kind: string;
  status: "retrying" | "failed";
}

/**
 * Hands work whose lease expired (its runner was killed, partitioned or stalled) back to the queue:
 * retried at once, or failed when it has used all its attempts. Rows locked by a live runner are
 * skipped, not waited for.
 */
export async function reapExpiredLeases(pool: pg.Pool): Promise<{ bulk: number; agent: ReapedTask[] }> {
  const reason = `'lease expired: runner ' || coalesce(lease_owner, '?') || ' stopped renewing it (killed, partitioned or stalled); handed back to the queue'`;
  const bulk = await pool.query(
    `UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
            run_after = now(), last_error = ${reason},
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)`,
  );
  const agent = await pool.query<ReapedTask>(
    `UPDATE agent_tasks SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
            run_after = now(), last_error = ${reason},
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id IN (SELECT id FROM agent_tasks WHERE status = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)
      RETURNING kind, status`,
  );
  return { bulk: bulk.rowCount ?? 0, agent: agent.rows };
}

/** A committed batch: its counts, and the priced lanes' quotes (for the per-version metrics). */
interface BatchCommitted {
  priced: number;
  invalid: number;
  quotes: ModelPricedQuote[];
}

export type BatchOutcome =
  | ({ kind: "progress" } & BatchCommitted)
  | ({ kind: "done"; lanesPriced: number; lanesInvalid: number } & BatchCommitted)
  | { kind: "lease_lost" };

/**
 * Prices the next `batchSize` pending lanes of a job and commits their results, the job's counters
 * and a renewed lease in one transaction, guarded by the lease token. This is the checkpoint: a job
 * whose runner dies resumes at the first lane without a committed result, and no lane is priced
 * twice. With no pending lane left, the same guarded transaction marks the job succeeded.
 */
export async function runBulkBatch(
  pool: pg.Pool,
  pricing: QuotePricing,
  job: ClaimedBulkJob,
  batchSize: number,
  leaseSeconds: number,
): Promise<BatchOutcome> {
  return withTenant(pool, job.tenantId, async (db) => {
    // Locking the job row holds off the reaper until this checkpoint commits with a renewed lease.
    // Without waiting for the WAL flush: a crash of the database loses the last commits whole (results,
    // counters and lease together, in WAL order), and the job redoes exactly those lanes.
    await db.query("SELECT set_config('synchronous_commit', 'off', true)");
    const held = await db.query<{ lanes_priced: number; lanes_invalid: number }>(
      "SELECT lanes_priced, lanes_invalid FROM jobs WHERE id = $1 AND lease_token = $2 FOR UPDATE",
      [job.id, job.leaseToken],
    );
    const current = held.rows[0];
    if (!current) return { kind: "lease_lost" };
    const { rows: lanes } = await db.query<{ row_number: number; input: unknown }>(
      `SELECT row_number, input FROM bulk_job_lanes
        WHERE job_id = $1 AND status = 'pending' ORDER BY row_number LIMIT $2`,
      [job.id, batchSize],
    );
    if (!lanes.length) {
      await db.query(
        `UPDATE jobs SET state = 'succeeded', finished_at = now(), last_error = NULL,
                lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND lease_token = $2`,
        [job.id, job.leaseToken],
      );
      return {
        kind: "done",
        priced: 0,
        invalid: 0,
        quotes: [],
        lanesPriced: current.lanes_priced,
        lanesInvalid: current.lanes_invalid,
      };
    }
    const now = new Date();
    const quotes: ModelPricedQuote[] = [];
    const results = lanes.map((lane) => {
      const outcome = priceLane(pricing, job.tenantId, lane.input, now);
      if (outcome.status === "priced") quotes.push(outcome.quote);
      return outcome.status === "priced"
        ? { row_number: lane.row_number, status: "priced", result: outcome.result, errors: null }
        : { row_number: lane.row_number, status: "invalid", result: null, errors: outcome.errors };
    });
    const { rows } = await db.query<{ priced: number; invalid: number }>(
      `WITH written AS (
         UPDATE bulk_job_lanes l
            SET status = u.status, result = u.result, errors = u.errors, priced_attempt = $4
           FROM jsonb_to_recordset($3::jsonb) AS u(row_number integer, status text, result jsonb, errors jsonb)
          WHERE l.job_id = $1 AND l.row_number = u.row_number AND l.status = 'pending'
          RETURNING l.status
       ), counted AS (
         SELECT count(*) FILTER (WHERE status = 'priced')::int AS priced,
                count(*) FILTER (WHERE status = 'invalid')::int AS invalid FROM written
       )
       UPDATE jobs j SET lanes_priced = j.lanes_priced + c.priced, lanes_invalid = j.lanes_invalid + c.invalid,
              lease_expires_at = now() + make_interval(secs => $5)
         FROM counted c
        WHERE j.id = $1 AND j.lease_token = $2
       RETURNING c.priced, c.invalid`,
      [job.id, job.leaseToken, JSON.stringify(results), job.attempts, leaseSeconds],
    );
    const counted = rows[0] ?? { priced: 0, invalid: 0 };
    if (lanes.length < batchSize) {
      // That was the rest of the job: finish it in this transaction, one round of commits less per job.
      await db.query(
        `UPDATE jobs SET state = 'succeeded', finished_at = now(), last_error = NULL,
                lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND lease_token = $2`,
        [job.id, job.leaseToken],
      );
      return {
        kind: "done",
        priced: counted.priced,
        invalid: counted.invalid,
        quotes,
        lanesPriced: current.lanes_priced + counted.priced,
        lanesInvalid: current.lanes_invalid + counted.invalid,
      };
    }
    return { kind: "progress", priced: counted.priced, invalid: counted.invalid, quotes };
  });
}

/** A job that failed on our side: retried after `retryInMs`, or failed for good when out of attempts. */
export async function failBulkJob(
  pool: pg.Pool,
  job: ClaimedBulkJob,
  error: string,
  retryInMs: number,
): Promise<"retrying" | "failed" | "lease_lost"> {
  const { rows } = await pool.query<{ state: "retrying" | "failed" }>(
    `UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
            run_after = now() + make_interval(secs => $4::float8 / 1000), last_error = $3,
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_token = $2
      RETURNING state`,
    [job.id, job.leaseToken, error.slice(0, 2000), retryInMs],
  );
  return rows[0]?.state ?? "lease_lost";
}

/**
 * Hands a job back unfinished when a drain runs out of time. Its committed lanes stay; the attempt is
 * not counted against the job, because the job did nothing wrong.
 */
export async function releaseBulkJob(pool: pg.Pool, job: ClaimedBulkJob): Promise<boolean> {
  const result = await pool.query(
    `UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_token = $2`,
    [job.id, job.leaseToken],
  );
  return result.rowCount === 1;
}

export type AgentTaskStatus = "success" | "retrying" | "failed";

/**
 * Records an agent task attempt's outcome. A failure is retried after `retryInMs` while attempts
 * remain (or failed at once when `permanent`). Returns the status written, or "lease_lost".
 */
export async function settleAgentTask(
  pool: pg.Pool,
  task: ClaimedAgentTask,
  outcome:
    | { ok: true; result?: Record<string, unknown> }
    | { ok: false; error: string; retryInMs: number; permanent: boolean },
): Promise<AgentTaskStatus | "lease_lost"> {
  const guard = "WHERE id = $1 AND lease_token = $2 RETURNING status";
  const clear = "lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL";
  const { rows } = outcome.ok
    ? await pool.query<{ status: AgentTaskStatus }>(
        // The result column (0022) is set only by kinds that produce one, so this runs before 0022 too.
        outcome.result === undefined
          ? `UPDATE agent_tasks SET status = 'success', finished_at = now(), last_error = NULL, ${clear} ${guard}`
          : `UPDATE agent_tasks SET status = 'success', finished_at = now(), last_error = NULL, result = $3,
                    ${clear} ${guard}`,
        outcome.result === undefined
          ? [task.id, task.leaseToken]
          : [task.id, task.leaseToken, outcome.result],
      )
    : await pool.query<{ status: AgentTaskStatus }>(
        `UPDATE agent_tasks SET status = CASE WHEN $5 OR attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
                run_after = now() + make_interval(secs => $4::float8 / 1000), last_error = $3,
                finished_at = CASE WHEN $5 OR attempts >= max_attempts THEN now() END, ${clear} ${guard}`,
        [task.id, task.leaseToken, outcome.error.slice(0, 2000), outcome.retryInMs, outcome.permanent],
      );
  return rows[0]?.status ?? "lease_lost";
}

/**
 * Puts an agent task back to wait `delayMs` without counting the attempt: the task could not be
 * tried because a dependency (the LLM provider) is unavailable, which says nothing about the task.
 * It stays queued however long the outage lasts, so nothing is lost to max_attempts.
 */
export async function deferAgentTask(
  pool: pg.Pool,
  task: ClaimedAgentTask,
  delayMs: number,
  reason: string,
): Promise<boolean> {
  const result = await pool.query(
    `UPDATE agent_tasks SET status = 'retrying', attempts = greatest(attempts - 1, 0),
            run_after = now() + make_interval(secs => $3::float8 / 1000), last_error = $4,
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_token = $2`,
    [task.id, task.leaseToken, delayMs, reason.slice(0, 2000)],
  );
  return result.rowCount === 1;
}

/** Hands an agent task back untried when a drain runs out of time (its attempt is not counted). */
export async function releaseAgentTask(pool: pg.Pool, task: ClaimedAgentTask): Promise<boolean> {
  const result = await pool.query(
    `UPDATE agent_tasks SET status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
            lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_token = $2`,
    [task.id, task.leaseToken],
  );
  return result.rowCount === 1;
}

/** Exponential backoff with full jitter: attempt n waits up to base x 2^(n-1), capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: retries of many tasks failing together spread out, none retries at once.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
