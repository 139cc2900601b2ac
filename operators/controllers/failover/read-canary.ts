// The read canary: spec.readCanary.weight percent of the serving region's lag-tolerant reads
// answered from the standby region's replica (app/routing/read-canary.ts does the choosing), while
// every write stays on the serving database. This decides the weight published to the apps through
// the routing row, and guards it with the health gate: the standby's readiness against
// spec.healthGate, and the replica's lag against readCanary.maxReplicationLagSeconds. A breach
// trips the canary to 0 and keeps it there until a human edits spec (a new generation), the way
// automatic failover waits for acknowledgement: a flapping replica must not flap users' reads. Pure.
import {
  FailoverConditions,
  otherRegion,
  READ_CANARY_DEFAULTS,
  type EffectiveSpec,
  type Region,
  type RegionFailoverSpec,
  type RegionFailoverStatus,
  type ReadCanaryStatus,
} from "../../api/regionfailover.ts";
import type { Condition } from "../../api/types.ts";
import { setCondition } from "../../runtime/conditions.ts";
import { describeSample, gatePasses } from "./health-gate.ts";
import type { Observations } from "./observations.ts";

export interface ReadCanaryEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
  dedupeKey: string;
}

export interface ReadCanaryDecision {
  /** The weight the routing row must carry. */
  weight: number;
  status: ReadCanaryStatus | undefined;
  events: ReadCanaryEvent[];
}

const EDIT_TO_REARM =
  'edit spec.readCanary to re-arm it (e.g. kubectl patch regionfailover <name> --type merge -p \'{"spec":{"readCanary":{"weight":10}}}\')';

/** Why the standby replica must not take canary reads now, or undefined when it may. */
function breach(spec: EffectiveSpec, maxLag: number, obs: Observations, standby: Region): string | undefined {
  const sample = obs.health[standby];
  if (!gatePasses(spec, sample))
    return `health gate failed: ${describeSample(standby, sample)} (gate: <= ${spec.healthGate.maxErrorRatePercent} % errors, p95 <= ${spec.healthGate.maxP95LatencyMs} ms)`;
  const unmeasured = obs.failures?.replication;
  if (unmeasured) return `${standby}'s replication lag could not be measured: ${unmeasured.message}`;
  const lag = obs.replicationLagSeconds;
  if (lag === undefined) return `${standby}'s replication lag is unknown`;
  if (lag > maxLag) return `${standby}'s replica is ${lag.toFixed(1)} s behind (max ${maxLag} s)`;
  return undefined;
}

export function decideReadCanary(
  rawSpec: RegionFailoverSpec,
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
  obs: Observations,
): ReadCanaryDecision {
  const previous = status.readCanary;
  const requested = rawSpec.readCanary?.weight ?? 0;
  if (!rawSpec.readCanary && !previous) return { weight: 0, status: undefined, events: [] };
  const maxLag =
    rawSpec.readCanary?.maxReplicationLagSeconds ?? READ_CANARY_DEFAULTS.maxReplicationLagSeconds;
  const standby = otherRegion(status.servingRegion ?? "primary");
  const events: ReadCanaryEvent[] = [];

  // Tripped stays tripped for the spec it tripped under: only a human's edit re-arms it.
  if (previous?.state === "Tripped" && previous.trippedAtGeneration === obs.generation) {
    return {
      weight: 0,
      status: {
        ...previous,
        weight: 0,
        message: `Tripped at ${previous.trippedAt}: ${previous.trippedReason}. All reads on the serving database; ${EDIT_TO_REARM}.`,
      },
      events,
    };
  }
  if (requested === 0)
    return {
      weight: 0,
      status: {
        state: "Off",
        weight: 0,
        region: standby,
        message: "spec.readCanary.weight is 0: every read on the serving database.",
      },
      events,
    };
  const steady = status.phase === "Steady" || status.phase === "Completed";
  if (!steady || obs.targetIsReplica === false) {
    const why = !steady
      ? `the region failover is ${status.phase ?? "starting"}`
      : `${standby}'s database is not a replica of the serving one`;
    return {
      weight: 0,
      status: { state: "Held", weight: 0, region: standby, message: `Held at 0 % while ${why}.` },
      events,
    };
  }
  const reason = breach(spec, maxLag, obs, standby);
  if (reason) {
    const trippedAt = obs.now.toISOString();
    events.push({
      type: "Warning",
      reason: "ReadCanaryTripped",
      note: `Read canary at ${requested} % on ${standby}'s replica tripped: ${reason}. Reads are back on the serving database; ${EDIT_TO_REARM}.`,
      dedupeKey: `read-canary-tripped-${trippedAt}`,
    });
    return {
      weight: 0,
      status: {
        state: "Tripped",
        weight: 0,
        region: standby,
        trippedAt,
        ...(obs.generation !== undefined ? { trippedAtGeneration: obs.generation } : {}),
        trippedReason: reason,
        message: `Tripped at ${trippedAt}: ${reason}. All reads on the serving database; ${EDIT_TO_REARM}.`,
      },
      events,
    };
  }
  if (previous?.state !== "Serving" || previous.weight !== requested)
    events.push({
      type: "Normal",
      reason: "ReadCanaryServing",
      note: `Read canary: ${requested} % of eligible reads on ${standby}'s replica; writes stay on ${status.servingRegion ?? "primary"}.`,
      dedupeKey: `read-canary-serving-${obs.generation ?? 0}-${requested}`,
    });
  const lag = obs.replicationLagSeconds ?? 0;
  return {
    weight: requested,
    status: {
      state: "Serving",
      weight: requested,
      region: standby,
      message: `${requested} % of eligible reads on ${standby}'s replica (lag ${lag.toFixed(1)}/${maxLag} s; ${describeSample(standby, obs.health[standby])}).`,
    },
    events,
  };
}

/** The ReadCanaryServing condition for `canary` (none while the canary was never asked for). */
export function readCanaryCondition(
  conditions: Condition[] | undefined,
  canary: ReadCanaryStatus | undefined,
  obs: Observations,
): Condition[] | undefined {
  if (!canary) return conditions;
  return setCondition(
    conditions,
    {
      type: FailoverConditions.ReadCanaryServing,
      status: canary.state === "Serving" ? "True" : "False",
      reason: canary.state === "Tripped" ? "GateTripped" : canary.state,
      message: canary.message ?? "",
    },
    obs.generation,
    obs.now,
  );
}
