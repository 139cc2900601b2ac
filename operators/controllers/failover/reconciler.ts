// Failover reconciler: reads the RegionFailover fresh from the API server, gathers observations
// (health of both regions, replication, runners, routing state, integrity figures), lets
// decideNextStep decide, writes the status, and only then acts. Written-then-acted is what makes a
// restart safe: a controller killed between the two finds its intent in status and, for the
// one-shot promotion, checks the database before acting again.
import type { Logger } from "pino";
import { apiVersion } from "../../api/group.ts";
import {
  otherRegion,
  type Region,
  type RegionFailover,
  type RegionFailoverStatus,
} from "../../api/regionfailover.ts";
import { regionFailovers } from "../../api/resources.ts";
import type { ReconcileResult, Reconciler } from "../../runtime/controller.ts";
import { isNotFound, type KubeClient } from "../../runtime/kube.ts";
import { canonical } from "../tenant/status.ts";
import { decideNextStep, type HealthSample, type Observations } from "./decide.ts";
import type { DatabaseDriver, TrafficDriver } from "./drivers/types.ts";

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
}

export interface FailoverReconcilerDeps {
  client: KubeClient;
  world: FailoverWorld;
  log: Logger;
  now?: () => Date;
}

async function settle<T>(promise: Promise<T>, fallback: T): Promise<T> {
  try {
    return await promise;
  } catch {
    return fallback;
  }
}

export class FailoverReconciler implements Reconciler {
  private readonly deps: FailoverReconcilerDeps;
  /** The last replication lag measured while the primary answered: what an unplanned flip loses. */
  private readonly lastLag = new Map<string, number>();

  constructor(deps: FailoverReconcilerDeps) {
    this.deps = deps;
  }

  async observe(object: RegionFailover, key: string): Promise<Observations> {
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
    const [primaryHealth, secondaryHealth, routing, replication, targetPromoted, drained, integrity] =
      await Promise.all([
        settle(world.health("primary"), undefined),
        settle(world.health("secondary"), undefined),
        settle(world.traffic.read(writer), undefined),
        settle(world.database.replication(target), { caughtUp: false }),
        settle(world.database.isWritable(target), false),
        settle(world.runnersDrained(source), false),
        // A lost primary has no figures to give: the replica's are the best "before" there is.
        world.integrity
          ? settle(world.integrity(writer), undefined).then(
              (figures) => figures ?? settle(world.integrity!(otherRegion(writer)), undefined),
            )
          : Promise.resolve(undefined),
      ]);
    if (replication.lagSeconds !== undefined) this.lastLag.set(key, replication.lagSeconds);
    const health: Observations["health"] = {};
    if (primaryHealth) health.primary = primaryHealth;
    if (secondaryHealth) health.secondary = secondaryHealth;
    const targetHealth = health[target];
    return {
      now: this.deps.now?.() ?? new Date(),
      generation: object.metadata.generation,
      routing,
      health,
      replicationLagSeconds: replication.lagSeconds ?? this.lastLag.get(key),
      replicaCaughtUp: replication.caughtUp,
      targetPromoted,
      runnersDrained: drained,
      integrity: integrity
        ? { ...integrity, errorRatePercent: targetHealth?.errorRatePercent ?? 0 }
        : undefined,
    };
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { client, world, log } = this.deps;
    const [namespace, name] = key.includes("/") ? (key.split("/") as [string, string]) : [undefined, key];
    let object: RegionFailover;
    try {
      // Fresh from the API server, not the informer: the status we wrote a moment ago must be seen.
      object = await client.get<RegionFailover>(regionFailovers, name, namespace);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const observations = await this.observe(object, key);
    const decision = decideNextStep(object.spec, object.status, observations);
    if (canonical(decision.status) !== canonical(object.status ?? {})) {
      await client.apply(
        regionFailovers,
        {
          apiVersion,
          kind: "RegionFailover",
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
          status: decision.status,
        } as RegionFailover,
        { fieldManager: FAILOVER_FIELD_MANAGER, subresource: "status", force: true },
      );
      logTransition(log, key, object.status, decision.status);
    }
    for (const action of decision.actions) {
      if (action.kind === "promote") {
        log.warn({ key, region: action.region }, "promoting the database (one-shot; intent is in status)");
        await world.database.promote(action.region);
      } else {
        const written = await world.traffic.apply(action.routing, action.reason);
        log.info({ key, routing: action.routing, written }, "routing state applied");
      }
    }
    // Something moved (an action taken, a stage finished): look again soon rather than at the next
    // poll, so each stage does not cost a full poll interval. Steady state keeps its slow poll.
    const moved =
      decision.actions.length > 0 ||
      decision.status.stage !== object.status?.stage ||
      decision.status.promotion?.requestedAt !== object.status?.promotion?.requestedAt;
    const flipping = decision.status.phase === "Progressing" || decision.status.phase === "RollingBack";
    return {
      requeueAfterMs:
        moved && flipping ? Math.min(QUICK_REQUEUE_MS, decision.requeueAfterMs) : decision.requeueAfterMs,
    };
  }
}

function logTransition(
  log: Logger,
  key: string,
  before: RegionFailoverStatus | undefined,
  after: RegionFailoverStatus,
): void {
  if (before?.phase !== after.phase || before?.stage !== after.stage) {
    log.info({ key, phase: after.phase, stage: after.stage, message: after.message }, "failover progressed");
  }
}
