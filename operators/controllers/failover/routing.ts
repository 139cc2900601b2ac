// The routing state a flip wants at each point of the runbook: which region takes writes, whether
// writes are frozen and runners paused, and the traffic weights of the current step. Every process
// reads it (the region_routing row, and DNS weights in AWS); the decider compares what it wants
// with what it read back and asks for a write only on a difference. Pure.
import {
  otherRegion,
  type EffectiveSpec,
  type Region,
  type RegionFailoverStatus,
  type TrafficWeights,
} from "../../api/regionfailover.ts";
import { gatePasses } from "./health-gate.ts";
import type { Observations } from "./observations.ts";
import { atOrAfter } from "./stages.ts";

/** The routing state every process reads (the region_routing row, and DNS weights in AWS). */
export interface RoutingState {
  activeRegion: Region;
  writesFrozen: boolean;
  runnersPaused: boolean;
  secondaryHealthy: boolean;
  weights: TrafficWeights;
  /** Percent of the serving region's eligible reads on the standby replica (read-canary.ts); absent is 0. */
  readCanaryWeight?: number;
}

/** `percent` of traffic on `region`, the rest on the other. */
export function weightsFor(region: Region, percent: number): TrafficWeights {
  return region === "primary"
    ? { primary: percent, secondary: 100 - percent }
    : { primary: 100 - percent, secondary: percent };
}

/** The routing a flip at `status` wants, given the region it started from. */
export function desiredRouting(
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
  observations: Observations,
): RoutingState {
  const secondaryHealthy = observations.health.secondary
    ? gatePasses(spec, observations.health.secondary)
    : (observations.routing?.secondaryHealthy ?? true);
  const serving = status.servingRegion ?? observations.routing?.activeRegion ?? "primary";
  const steady = (region: Region, weights = weightsFor(region, 100)): RoutingState => ({
    activeRegion: region,
    writesFrozen: false,
    runnersPaused: false,
    secondaryHealthy,
    weights,
  });
  const target = status.targetRegion;
  if (!target) return steady(serving);
  const source = otherRegion(target);
  switch (status.phase) {
    case "Progressing":
    case "Paused": {
      const stage = status.stage;
      const promoted = atOrAfter(stage, "RepointWriters");
      let weights = weightsFor(target, 0);
      if (stage === "ShiftTraffic") weights = status.trafficWeights ?? weights;
      else if (atOrAfter(stage, "Unfreeze")) weights = weightsFor(target, 100);
      return {
        activeRegion: promoted ? target : source,
        writesFrozen: atOrAfter(stage, "FreezeWrites") && !atOrAfter(stage, "Unfreeze"),
        runnersPaused: atOrAfter(stage, "DrainRunners") && !atOrAfter(stage, "ResumeRunners"),
        secondaryHealthy,
        weights,
      };
    }
    case "RollingBack":
    case "Failed":
      // Nothing irreversible happened: everything back on the region the flip started from.
      return steady(source);
    case "Aborted":
      // After promotion the promoted database is the only writer; traffic stays where it was.
      return status.promotion
        ? steady(target, status.trafficWeights ?? weightsFor(target, 0))
        : steady(source);
    default:
      return steady(serving);
  }
}

export function sameRouting(a: RoutingState | undefined, b: RoutingState): boolean {
  return (
    a !== undefined &&
    a.activeRegion === b.activeRegion &&
    a.writesFrozen === b.writesFrozen &&
    a.runnersPaused === b.runnersPaused &&
    a.secondaryHealthy === b.secondaryHealthy &&
    a.weights.primary === b.weights.primary &&
    a.weights.secondary === b.weights.secondary &&
    (a.readCanaryWeight ?? 0) === (b.readCanaryWeight ?? 0)
  );
}

/** True when the routing read back has every field of `want` (nothing is known when unreadable). */
export function routingMatches(observed: RoutingState | undefined, want: Partial<RoutingState>): boolean {
  return (
    observed !== undefined &&
    Object.entries(want).every(([k, v]) => {
      const have = observed[k as keyof RoutingState];
      return typeof v === "object" ? JSON.stringify(have) === JSON.stringify(v) : have === v;
    })
  );
}
