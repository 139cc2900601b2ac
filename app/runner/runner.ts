// A runner: claims bulk rating jobs and agent tasks (per-tenant fair, leased), works them, and obeys
// the region's routing state. States:
//   running   claims and works
//   draining  paused (routing) or stopping (SIGTERM): no new claims, in-flight work finishing; past
//             the drain deadline, unfinished work is handed back to the queue at its last checkpoint
//   paused    drained because of the routing pause; resumes claiming when the pause is lifted
//   drained   drained because the process is stopping; the loop ends
// Its heartbeat row (runner_heartbeats) carries the state and in-flight count the failover
// controller reads through app/jobs/drain.ts.
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { Logger } from "pino";
import type { AppMetrics } from "../observability/metrics.ts";
import type { QuotePricing } from "../pricing/quote-pricing.ts";
import { countPricedQuote } from "../observability/pricing-metrics.ts";
import {
  claimAgentTasks,
  claimBulkJobs,
  deferAgentTask,
  failBulkJob,
  reapExpiredLeases,
  releaseAgentTask,
  releaseBulkJob,
  renewLeases,
  retryDelayMs,
  runBulkBatch,
  settleAgentTask,
  type ClaimedAgentTask,
  type ClaimedBulkJob,
} from "../jobs/queue.ts";
import type { QueueName } from "../jobs/scaling.ts";
import { readRegionRouting, RoutingRowMissingError } from "../routing/row.ts";

export type RunnerState = "running" | "draining" | "paused" | "drained";
export const RUNNER_STATES: RunnerState[] = ["running", "draining", "paused", "drained"];

export interface AgentTaskContext {
  /** Aborted when the drain deadline passes or the attempt times out: stop and return. */
  signal: AbortSignal;
  log: Logger;
}
/** What a handler returns: nothing, or the task's result (stored on the task, read by whoever queued it). */
export type AgentTaskHandler = (
  task: ClaimedAgentTask,
  context: AgentTaskContext,
) => Promise<void | Record<string, unknown>>;

/** A failure that retrying cannot fix (bad payload, rejected by the receiver): failed at once. */
export class PermanentTaskError extends Error {}

/**
 * The task could not be tried now (a dependency is unavailable, e.g. the LLM provider's circuit is
 * open): it waits `retryInMs` and its attempt is not counted, so an outage of any length loses nothing.
 */
export class DeferTaskError extends Error {
  readonly retryInMs: number;
  constructor(message: string, retryInMs: number) {
    super(message);
    this.retryInMs = retryInMs;
  }
}

export interface RunnerOptions {
  pool: pg.Pool;
  /** Prices each lane with its tenant's version of the PricingModel split. */
  pricing: QuotePricing;
  metrics: AppMetrics;
  log: Logger;
  runnerId: string;
  region: string;
  handlers: Record<string, AgentTaskHandler>;
  bulkSlots: number;
  agentSlots: number;
  batchLanes: number;
  leaseSeconds: number;
  pollMs: number;
  drainSeconds: number;
  retryBaseMs: number;
  retryMaxMs: number;
  agentTimeoutMs: number;
  /** Kinds whose attempts may take longer than agentTimeoutMs (a tenant's data export). */
  agentTimeoutsMs?: Record<string, number>;
}

interface InFlight {
  queue: QueueName;
  token: string;
  abort: AbortController;
  done: Promise<void>;
}

export class Runner {
  readonly options: RunnerOptions;
  #state: RunnerState = "running";
  readonly #inFlight = new Map<string, InFlight>();
  #pausedByRouting = false;
  /** This region's database is a read-only replica (a standby region): hold, and write nothing. */
  #standby = false;
  #stopping = false;
  #drainStartedAt: number | undefined;
  #drainAborted = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #lastTick = Date.now();
  #lastRouting = 0;
  #lastReap = 0;

  constructor(options: RunnerOptions) {
    this.options = options;
  }

  get state(): RunnerState {
    return this.#state;
  }
  get inFlight(): number {
    return this.#inFlight.size;
  }
  /** When the loop last went round; /healthz fails when it stops going round. */
  get lastTick(): number {
    return this.#lastTick;
  }

  async start(): Promise<void> {
    const { pool, region } = this.options;
    // The pause applies from the first claim: a runner started during a failover must not claim.
    await this.#readRouting();
    // Heartbeats of long-gone runners in this region are noise to the drain check's readers.
    if (!this.#standby)
      await pool.query(
        "DELETE FROM runner_heartbeats WHERE region = $1 AND updated_at < now() - interval '1 day'",
        [region],
      );
    this.#updateState();
    await this.#heartbeat();
    const renewEvery = Math.max(200, (this.options.leaseSeconds * 1000) / 3);
    this.#renewTimer = setInterval(() => void this.#renewAndBeat(), renewEvery);
    this.#loop = this.#run();
  }

  /** SIGTERM: stop claiming, finish or hand back in-flight work within the drain deadline, then end. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { log, pollMs } = this.options;
    let failures = 0;
    for (;;) {
      this.#lastTick = Date.now();
      let claimed = 0;
      try {
        if (Date.now() - this.#lastRouting >= Math.max(pollMs, 500)) await this.#readRouting();
        this.#updateState();
        if (this.#state === "drained") break;
        if (this.#state === "running") claimed = await this.#claim();
        if (!this.#standby && Date.now() - this.#lastReap >= (this.options.leaseSeconds * 1000) / 2)
          await this.#reap();
        failures = 0;
      } catch (error) {
        failures++;
        log.error({ err: error, failures }, "runner loop failed; retrying");
      }
      if (claimed === 0) await this.#idle(failures ? Math.min(30_000, pollMs * 2 ** failures) : pollMs);
    }
    clearInterval(this.#renewTimer);
    await this.#heartbeat().catch((error: Error) => log.error({ err: error }, "final heartbeat failed"));
    log.info({ runner: this.options.runnerId }, "runner drained and stopped");
  }

  /** Waits for the poll interval, or less when a slot frees or a stop is requested. */
  async #idle(ms: number): Promise<void> {
    const controller = new AbortController();
    this.#wake = () => controller.abort();
    await sleep(ms, undefined, { signal: controller.signal }).catch(() => undefined);
    this.#wake = undefined;
  }

  async #readRouting(): Promise<void> {
    let paused: boolean;
    // A standby region's runners run against its read-only replica: every claim or heartbeat would
    // fail there. They hold until the database is promoted, then follow the routing row like any other.
    const { rows } = await this.options.pool.query<{ standby: boolean }>(
      "SELECT pg_is_in_recovery() AS standby",
    );
    const standby = rows[0]!.standby;
    if (standby !== this.#standby)
      this.options.log.info(
        { standby },
        standby
          ? "this region's database is a read-only replica (standby region): runners hold until it is promoted"
          : "this region's database accepts writes: runners follow the routing state",
      );
    this.#standby = standby;
    try {
      paused = standby || (await readRegionRouting(this.options.pool)).runnersPaused;
    } catch (error) {
      if (!(error instanceof RoutingRowMissingError)) throw error;
      // Without the row nobody can say the runners may work (app/routing/row.ts): hold as if paused,
      // which still lets a stop drain and exit.
      if (!this.#pausedByRouting) this.options.log.error({ err: error }, "runners hold: no routing row");
      paused = true;
    }
    if (paused !== this.#pausedByRouting) {
      this.options.log.info(
        { paused },
        paused ? "routing pauses runners: draining" : "routing resumes runners",
      );
    }
    this.#pausedByRouting = paused;
    this.#lastRouting = Date.now();
  }

  #updateState(): void {
    const before = this.#state;
    const wantsPause = this.#stopping || this.#pausedByRouting;
    if (!wantsPause) {
      this.#state = "running";
      this.#drainStartedAt = undefined;
      this.#drainAborted = false;
    } else if (this.#inFlight.size > 0) {
      this.#state = "draining";
      this.#drainStartedAt ??= Date.now();
      if (!this.#drainAborted && Date.now() - this.#drainStartedAt >= this.options.drainSeconds * 1000) {
        this.#drainAborted = true;
        this.options.log.warn(
          { inFlight: this.#inFlight.size, drainSeconds: this.options.drainSeconds },
          "drain deadline passed: handing unfinished work back to the queue at its last checkpoint",
        );
        for (const work of this.#inFlight.values()) work.abort.abort();
      }
    } else {
      this.#state = this.#stopping ? "drained" : "paused";
    }
    if (this.#state !== before) {
      for (const s of RUNNER_STATES)
        this.options.metrics.runnerState.set({ state: s }, s === this.#state ? 1 : 0);
      this.options.log.info({ from: before, to: this.#state, inFlight: this.#inFlight.size }, "runner state");
      // Readers of the heartbeat (the failover controller) learn of a state change at once.
      void this.#heartbeat().catch(() => undefined);
    }
  }

  async #claim(): Promise<number> {
    const { pool, runnerId, leaseSeconds, bulkSlots, agentSlots } = this.options;
    const busy = (queue: QueueName) => [...this.#inFlight.values()].filter((w) => w.queue === queue).length;
    const [jobs, tasks] = await Promise.all([
      claimBulkJobs(pool, runnerId, bulkSlots - busy("bulk_rating"), leaseSeconds),
      claimAgentTasks(pool, runnerId, agentSlots - busy("agent_tasks"), leaseSeconds),
    ]);
    for (const job of jobs)
      this.#track("bulk_rating", job.leaseToken, (signal) => this.#runBulkJob(job, signal));
    for (const task of tasks)
      this.#track("agent_tasks", task.leaseToken, (signal) => this.#runAgentTask(task, signal));
    const now = Date.now();
    for (const job of jobs)
      this.options.metrics.runnerJobWaitSeconds.observe(
        { queue: "bulk_rating" },
        (now - job.runAfter.getTime()) / 1000,
      );
    for (const task of tasks)
      this.options.metrics.runnerJobWaitSeconds.observe(
        { queue: "agent_tasks" },
        (now - task.runAfter.getTime()) / 1000,
      );
    return jobs.length + tasks.length;
  }

  #track(queue: QueueName, token: string, work: (signal: AbortSignal) => Promise<void>): void {
    const abort = new AbortController();
    const done = work(abort.signal)
      .catch((error: Error) => this.options.log.error({ err: error, queue }, "work failed unexpectedly"))
      .finally(() => {
        this.#inFlight.delete(token);
        this.options.metrics.runnerJobsInFlight.set({ queue }, this.#count(queue));
        this.#wake?.();
      });
    this.#inFlight.set(token, { queue, token, abort, done });
    this.options.metrics.runnerJobsInFlight.set({ queue }, this.#count(queue));
  }

  #count(queue: QueueName): number {
    let n = 0;
    for (const w of this.#inFlight.values()) if (w.queue === queue) n++;
    return n;
  }

  async #runBulkJob(job: ClaimedBulkJob, signal: AbortSignal): Promise<void> {
    const { pool, pricing, metrics, log, batchLanes, leaseSeconds } = this.options;
    const finished = (status: string) => metrics.runnerJobsFinished.inc({ queue: "bulk_rating", status });
    try {
      for (;;) {
        if (signal.aborted) {
          finished((await releaseBulkJob(pool, job)) ? "released" : "lease_lost");
          return;
        }
        const outcome = await runBulkBatch(pool, pricing, job, batchLanes, leaseSeconds);
        if (outcome.kind === "lease_lost") {
          log.warn(
            { job: job.id },
            "bulk job lease lost (another runner took it over); stopped working on it",
          );
          finished("lease_lost");
          return;
        }
        metrics.bulkJobLanes.inc({ result: "priced" }, outcome.priced);
        metrics.bulkJobLanes.inc({ result: "invalid" }, outcome.invalid);
        for (const quote of outcome.quotes) countPricedQuote(metrics, quote);
        if (outcome.kind === "done") {
          log.info(
            {
              job: job.id,
              priced: outcome.lanesPriced,
              invalid: outcome.lanesInvalid,
              attempt: job.attempts,
            },
            "bulk job succeeded",
          );
          finished("succeeded");
          return;
        }
        // Let lease renewals, claims and scrapes in between long jobs' batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      const message = `bulk job attempt ${job.attempts} failed: ${(error as Error).message}`;
      log.error({ err: error, job: job.id }, "bulk job attempt failed");
      const delay = retryDelayMs(job.attempts, this.options.retryBaseMs, this.options.retryMaxMs);
      finished(await failBulkJob(pool, job, message, delay).catch(() => "lease_lost" as const));
    }
  }

  async #runAgentTask(task: ClaimedAgentTask, drainSignal: AbortSignal): Promise<void> {
    const { pool, metrics, log, handlers } = this.options;
    const handler = handlers[task.kind];
    const agentTimeoutMs = this.options.agentTimeoutsMs?.[task.kind] ?? this.options.agentTimeoutMs;
    const kindLabel = handler ? task.kind : "unknown";
    let outcome: Parameters<typeof settleAgentTask>[2];
    if (!handler) {
      outcome = {
        ok: false,
        permanent: true,
        retryInMs: 0,
        error: `no handler for agent task kind '${task.kind}'; this runner handles ${Object.keys(handlers).join(", ")}`,
      };
    } else {
      const timeout = AbortSignal.timeout(agentTimeoutMs);
      try {
        const result = await handler(task, {
          signal: AbortSignal.any([drainSignal, timeout]),
          log: log.child({ task: task.id }),
        });
        outcome = result ? { ok: true, result } : { ok: true };
      } catch (error) {
        if (error instanceof DeferTaskError && !drainSignal.aborted) {
          const deferred = await deferAgentTask(pool, task, error.retryInMs, `deferred: ${error.message}`);
          metrics.runnerJobsFinished.inc({
            queue: "agent_tasks",
            status: deferred ? "deferred" : "lease_lost",
          });
          if (deferred) metrics.agentTasksFinished.inc({ kind: kindLabel, status: "deferred" });
          return;
        }
        if (drainSignal.aborted) {
          // Cut short by the drain deadline, not failed: another runner tries it, uncounted.
          const released = await releaseAgentTask(pool, task);
          metrics.runnerJobsFinished.inc({
            queue: "agent_tasks",
            status: released ? "released" : "lease_lost",
          });
          return;
        }
        const reason = timeout.aborted ? `timed out after ${agentTimeoutMs} ms` : (error as Error).message;
        outcome = {
          ok: false,
          permanent: error instanceof PermanentTaskError,
          retryInMs: retryDelayMs(task.attempts, this.options.retryBaseMs, this.options.retryMaxMs),
          error: `attempt ${task.attempts}: ${reason}`,
        };
      }
    }
    const status = await settleAgentTask(pool, task, outcome);
    metrics.runnerJobsFinished.inc({ queue: "agent_tasks", status });
    if (status === "lease_lost") {
      log.warn(
        { task: task.id },
        "agent task lease lost before its outcome was recorded; another runner retries it",
      );
      return;
    }
    metrics.agentTasksFinished.inc({ kind: kindLabel, status });
    if (status !== "success") {
      const level = status === "failed" ? "error" : "warn";
      log[level](
        {
          task: task.id,
          kind: task.kind,
          attempt: task.attempts,
          status,
          error: outcome.ok ? undefined : outcome.error,
        },
        "agent task attempt failed",
      );
    }
  }

  async #reap(): Promise<void> {
    this.#lastReap = Date.now();
    const reaped = await reapExpiredLeases(this.options.pool);
    for (const task of reaped.agent) {
      const kind = this.options.handlers[task.kind] ? task.kind : "unknown";
      this.options.metrics.agentTasksFinished.inc({ kind, status: task.status });
    }
    if (reaped.bulk || reaped.agent.length) {
      this.options.log.warn(
        { bulkJobs: reaped.bulk, agentTasks: reaped.agent.length },
        "handed work with expired leases back to the queue",
      );
    }
  }

  async #renewAndBeat(): Promise<void> {
    const { pool, leaseSeconds, log } = this.options;
    try {
      const tokens = { bulk: [] as string[], agent: [] as string[] };
      for (const w of this.#inFlight.values())
        (w.queue === "bulk_rating" ? tokens.bulk : tokens.agent).push(w.token);
      const lost = this.#inFlight.size ? await renewLeases(pool, tokens, leaseSeconds) : [];
      for (const token of lost) {
        const work = this.#inFlight.get(token);
        // Settled between the snapshot and the renewal, or taken over: either way, stop working on it.
        if (work) work.abort.abort();
      }
      this.#updateState();
      await this.#heartbeat();
    } catch (error) {
      log.error({ err: error }, "lease renewal or heartbeat failed");
    }
  }

  async #heartbeat(): Promise<void> {
    const { pool, runnerId, region } = this.options;
    if (this.#standby) return;
    await pool.query(
      `INSERT INTO runner_heartbeats (runner_id, region, state, in_flight) VALUES ($1, $2, $3, $4)
       ON CONFLICT (runner_id) DO UPDATE SET region = excluded.region, state = excluded.state,
         in_flight = excluded.in_flight, updated_at = now()`,
      [runnerId, region, this.#state, this.#inFlight.size],
    );
  }
}
