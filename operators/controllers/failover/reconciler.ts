// Failover reconciler: reads the RegionFailover fresh from the API server, gathers observations
// (health of both regions, replication, runners, routing state, integrity figures), lets
// decideNextStep decide, writes the status, and only then acts. Written-then-acted is what makes a
// restart safe: a controller killed between the two finds its intent in status and, for the
// one-shot promotion, checks the database before acting again. An observation that fails falls
// back to its safe value, and its typed failure goes to the decider, so the conditions say why; a
// failed action is remembered until the next reconcile for the same reason.
import type { Logger } from "pino";
import {
  otherRegion,
  type Region,
  type RegionFailover,
  type RegionFailoverStatus,
} from "../../api/regionfailover.ts";
import { regionFailovers } from "../../api/resources.ts";
import type { ReconcileResult, Reconciler } from "../../runtime/controller.ts";
import { keyString, type ObjectKey } from "../../runtime/keys.ts";
import { isNotFound, type KubeClient } from "../../runtime/kube.ts";
import type { EventRecorder } from "../../runtime/events.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { decideNextStep } from "./decide.ts";
import type { LossSignalObservation } from "./detect.ts";
import { toDriverError, type DriverFailure } from "./drivers/errors.ts";
import type { DatabaseDriver, TrafficDriver } from "./drivers/types.ts";
import type { HealthSample, ObservedPart, Observations } from "./observations.ts";

export const FAILOVER_FIELD_MANAGER = "failover-controller";
const QUICK_REQUEUE_MS = 200;

export interface FailoverWorld {
  database: DatabaseDriver;
  traffic: TrafficDriver;
  health(region: Region): Promise<HealthSample>;
  /** True when the runners of `region` hold no job (app/jobs/drain.ts). */
  runnersDrained(region: Region): Promise<boolean>;
  /** Invoices and queue depth on `region`'s database (the integrity check before/after). */
  integrity?(region: Region): Promise<{ invoices: number; queueDepth: number }>;
  /**
   * Automatic mode: the independent loss signals about `region`'s primary (signals.ts). Each
   * signal reports its own failure; this rejects only when none could be gathered.
   */
  lossSignals?(region: Region): Promise<LossSignalObservation[]>;
}

export interface FailoverReconcilerDeps {
  client: KubeClient;
  world: FailoverWorld;
  log: Logger;
  now?: () => Date;
  /** Where automatic mode's decisions go as Events (kubectl describe); absent in unit tests. */
  events?: EventRecorder;
}

type Failures = Partial<Record<ObservedPart, DriverFailure>>;

/**
 * The promise's value, or `fallback` when it fails; the failure, typed, is recorded under `part`
 * (the first one wins: the integrity figures try two regions).
 */
async function settle<T>(
  promise: Promise<T>,
  fallback: T,
  failures: Failures,
  part: ObservedPart,
  attempted: string,
): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    const failure = toDriverError(error, attempted);
    failures[part] ??= { reason: failure.reason, message: failure.message };
    return fallback;
  }
}

export class FailoverReconciler implements Reconciler {
  private readonly deps: FailoverReconcilerDeps;
  /** The last replication lag measured while the primary answered: what an unplanned flip loses. */
  private readonly lastLag = new Map<string, number>();
  /** Actions that failed in the last reconcile of each object, reported by the next one. */
  private readonly failedActions = new Map<string, Failures>();

  constructor(deps: FailoverReconcilerDeps) {
    this.deps = deps;
  }

  async observe(object: RegionFailover, key: ObjectKey): Promise<Observations> {
    const { world } = this.deps;
    const status = object.status;
    const serving: Region = status?.servingRegion ?? "primary";
    const inFlight =
      status?.targetRegion !== undefined &&
      ["Progressing", "Paused", "RollingBack"].includes(status.phase ?? "");
    const target: Region = inFlight
      ? status!.targetRegion!
      : object.spec.activeRegion !== serving
        ? object.spec.activeRegion
        : otherRegion(serving);
    const source = otherRegion(target);
    // Before promotion the source's database holds the authoritative routing row; after it, the target's.
    const writer: Region = inFlight && status?.promotion?.completedAt ? target : inFlight ? source : serving;
    const failures: Failures = { ...this.failedActions.get(keyString(key)) };
    const on = (region: Region) => `${region}'s database`;
    const watching = Boolean(object.spec.automatic?.enabled) && !inFlight && world.lossSignals !== undefined;
    const fencing = inFlight && status?.fence !== undefined && !status.fence.completedAt;
    let freshReplication = true;
    const [
      primaryHealth,
      secondaryHealth,
      routing,
      replication,
      targetPromoted,
      drained,
      integrity,
      lossSignals,
      sourceFenced,
    ] = await Promise.all([
      // sampleHealth reports a failed probe in the sample itself (detail); this is a last resort.
      settle(world.health("primary"), undefined, failures, "health", "sampling primary's health"),
      settle(world.health("secondary"), undefined, failures, "health", "sampling secondary's health"),
      settle(
        world.traffic.read(writer),
        undefined,
        failures,
        "routing",
        `reading the routing state on ${on(writer)}`,
      ),
      settle(
        world.database.replication(target),
        { caughtUp: false },
        failures,
        "replication",
        `measuring ${target}'s replication`,
      ).then((r) => {
        freshReplication = !failures.replication;
        return r;
      }),
      settle(
        world.database.isWritable(target),
        false,
        failures,
        "targetPromoted",
        `checking whether ${on(target)} accepts writes`,
      ),
      settle(
        world.runnersDrained(source),
        false,
        failures,
        "runnersDrained",
        `reading ${source}'s runner heartbeats`,
      ),
      // A lost primary has no figures to give: the replica's are the best "before" there is.
      world.integrity
        ? // The writer's failure is not reported when the other region answers instead.
          settle(world.integrity(writer), undefined, {}, "integrity", "").then(
            (figures) =>
              figures ??
              settle(
                world.integrity!(otherRegion(writer)),
                undefined,
                failures,
                "integrity",
                `reading integrity figures on ${on(otherRegion(writer))}`,
              ),
          )
        : Promise.resolve(undefined),
      watching
        ? settle(world.lossSignals!(serving), undefined, failures, "health", `judging ${serving}'s primary`)
        : Promise.resolve(undefined),
      fencing
        ? settle(
            world.database.isFenced(source),
            false,
            failures,
            "sourceFenced",
            `checking ${source}'s database's fence`,
          )
        : Promise.resolve(undefined),
    ]);
    const id = keyString(key);
    if (replication.lagSeconds !== undefined) this.lastLag.set(id, replication.lagSeconds);
    const health: Observations["health"] = {};
    if (primaryHealth) health.primary = primaryHealth;
    if (secondaryHealth) health.secondary = secondaryHealth;
    const targetHealth = health[target];
    return {
      now: this.deps.now?.() ?? new Date(),
      generation: object.metadata.generation,
      routing,
      health,
      replicationLagSeconds: replication.lagSeconds ?? this.lastLag.get(id),
      replicaCaughtUp: replication.caughtUp,
      targetPromoted,
      runnersDrained: drained,
      integrity: integrity
        ? { ...integrity, errorRatePercent: targetHealth?.errorRatePercent ?? 0 }
        : undefined,
      ...(lossSignals ? { lossSignals } : {}),
      ...(sourceFenced !== undefined ? { sourceFenced } : {}),
      ...(freshReplication ? { targetIsReplica: replication.lagSeconds !== undefined } : {}),
      ...(Object.keys(failures).length ? { failures } : {}),
    };
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { client, world, log } = this.deps;
    let object: RegionFailover;
    try {
      // Fresh from the API server, not the informer: the status we wrote a moment ago must be seen.
      object = await client.get<RegionFailover>(regionFailovers, key.name, key.namespace);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const observations = await this.observe(object, key);
    const decision = decideNextStep(object.spec, object.status, observations);
    if (
      await applyStatusIfChanged(client, regionFailovers, object, decision.status, {
        fieldManager: FAILOVER_FIELD_MANAGER,
      })
    ) {
      logTransition(log, key, object.status, decision.status);
    }
    for (const event of decision.events) {
      log.info({ key, reason: event.reason, note: event.note }, "failover event");
      await this.deps.events?.record(object, { ...event, action: event.action ?? "AutomaticFailover" });
    }
    const failed: Failures = {};
    try {
      for (const action of decision.actions) {
        if (action.kind === "fence") {
          log.warn({ key, region: action.region }, "fencing the old primary (one-shot; intent is in status)");
          const fenced = await world.database.fence(action.region).catch((error: unknown) => {
            throw remember(failed, "fence", toDriverError(error, `fencing ${action.region}'s database`));
          });
          const issued = {
            ...decision.status,
            fence: { ...decision.status.fence!, issuedAt: new Date().toISOString(), method: fenced.method },
          };
          await applyStatusIfChanged(client, regionFailovers, object, issued, {
            fieldManager: FAILOVER_FIELD_MANAGER,
            current: decision.status,
          });
        } else if (action.kind === "promote") {
          log.warn({ key, region: action.region }, "promoting the database (one-shot; intent is in status)");
          await world.database.promote(action.region).catch((error: unknown) => {
            throw remember(failed, "promote", toDriverError(error, `promoting ${action.region}'s database`));
          });
          // Accepted: record it so no later reconcile sends it again while the promotion runs. Dying
          // before this write sends it once more; the drivers take a repeat of an accepted request.
          const issued = {
            ...decision.status,
            promotion: { ...decision.status.promotion!, issuedAt: new Date().toISOString() },
          };
          await applyStatusIfChanged(client, regionFailovers, object, issued, {
            fieldManager: FAILOVER_FIELD_MANAGER,
            current: decision.status,
          });
        } else {
          const written = await world.traffic.apply(action.routing, action.reason).catch((error: unknown) => {
            throw remember(failed, "applyRouting", toDriverError(error, "writing the routing state"));
          });
          log.info({ key, routing: action.routing, written }, "routing state applied");
        }
      }
    } finally {
      // The next reconcile reports these in the conditions (and forgets them once an action works).
      if (Object.keys(failed).length) this.failedActions.set(keyString(key), failed);
      else this.failedActions.delete(keyString(key));
    }
    // Something moved (an action taken, a stage finished): look again soon rather than at the next
    // poll, so each stage does not cost a full poll interval. Steady state keeps its slow poll.
    const moved =
      decision.actions.length > 0 ||
      decision.status.stage !== object.status?.stage ||
      decision.status.promotion?.requestedAt !== object.status?.promotion?.requestedAt ||
      decision.status.fence?.requestedAt !== object.status?.fence?.requestedAt;
    const flipping = decision.status.phase === "Progressing" || decision.status.phase === "RollingBack";
    return {
      requeueAfterMs:
        moved && flipping ? Math.min(QUICK_REQUEUE_MS, decision.requeueAfterMs) : decision.requeueAfterMs,
    };
  }
}

function remember(failures: Failures, part: ObservedPart, error: DriverFailure & Error): Error {
  failures[part] = { reason: error.reason, message: error.message };
  return error;
}

function logTransition(
  log: Logger,
  key: ObjectKey,
  before: RegionFailoverStatus | undefined,
  after: RegionFailoverStatus,
): void {
  if (before?.phase !== after.phase || before?.stage !== after.stage) {
    log.info({ key, phase: after.phase, stage: after.stage, message: after.message }, "failover progressed");
  }
}
