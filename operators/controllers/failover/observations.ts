// What the failover reconciler observed in one look at the world, as the pure decider receives it.
// A part that could not be observed is absent (or at its safe default) and its failure is in
// `failures`, typed, so conditions can tell on-call "permission denied" from "unreachable".
import type { IntegritySnapshot, Region } from "../../api/regionfailover.ts";
import type { LossSignalObservation } from "./detect.ts";
import type { DriverFailure } from "./drivers/errors.ts";
import type { RoutingState } from "./routing.ts";

/** One look at a region's readiness endpoint over a short window of probes. */
export interface HealthSample {
  ready: boolean;
  errorRatePercent: number;
  p95LatencyMs: number;
  detail?: string;
}

/**
 * The parts of an observation that can fail, and the two actions: a failed action is remembered
 * until the next reconcile so status says why the flip is not moving.
 */
export type ObservedPart =
  | "health"
  | "routing"
  | "replication"
  | "targetPromoted"
  | "runnersDrained"
  | "integrity"
  | "promote"
  | "applyRouting"
  | "fence"
  | "sourceFenced";

export interface Observations {
  now: Date;
  /** metadata.generation of the RegionFailover. */
  generation?: number;
  /** The routing state as read back; undefined when it could not be read. */
  routing?: RoutingState;
  health: Partial<Record<Region, HealthSample>>;
  /** The standby replica's lag behind its primary in seconds; undefined when the primary is gone. */
  replicationLagSeconds?: number;
  /** True when the replica has replayed everything the primary wrote (planned cutover needs it). */
  replicaCaughtUp: boolean;
  /** True when the flip's target database accepts writes (no longer a replica). */
  targetPromoted: boolean;
  /** True when no runner holds a claimed job in the serving region. */
  runnersDrained: boolean;
  integrity?: Omit<IntegritySnapshot, "takenAt">;
  /** Automatic mode: the loss signals about the serving region's primary (absent when it is off). */
  lossSignals?: LossSignalObservation[];
  /** True when the flip's source database is confirmed fenced (refuses writes, also after a restart). */
  sourceFenced?: boolean;
  /**
   * True when the flip's target (steady: the other region) is a streaming replica of the serving
   * database right now; false when it is not; undefined when it could not be asked.
   */
  targetIsReplica?: boolean;
  /** Why a part could not be observed (or an action failed last time); absent parts succeeded. */
  failures?: Partial<Record<ObservedPart, DriverFailure>>;
}
