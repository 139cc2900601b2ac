// The failover runbook as a pure, resumable state machine. Every reconcile calls decideNextStep with
// the spec, the last written status and fresh observations; it returns the next status and the
// actions to take. The reconciler writes the status first and acts second, so a controller killed
// at any line resumes from status: routing changes are "make it so" (repeating them is harmless),
// and the one irreversible action, promotion, is written as intent before it is taken and marked
// complete only once the promoted database is seen accepting writes. The routing each stage wants
// lives in routing.ts, the conditions in conditions.ts, pause causes in pause.ts.
import {
  STAGES,
  effectiveSpec,
  otherRegion,
  type EffectiveSpec,
  type Region,
  type RegionFailoverSpec,
  type RegionFailoverStatus,
  type SignalReading,
} from "../../api/regionfailover.ts";
import { conditionsFor, integrityVerdict } from "./conditions.ts";
import { judgePrimary } from "./detect.ts";
import { describeSample, gatePasses } from "./health-gate.ts";
import type { Observations } from "./observations.ts";
import { adoptUnexplainedPause, pause, pausedBy, syncPausePhase, unpause } from "./pause.ts";
import { decideReadCanary, readCanaryCondition } from "./read-canary.ts";
import { desiredRouting, routingMatches, sameRouting, weightsFor, type RoutingState } from "./routing.ts";
import { atOrAfter, enterStage, stageStartedAt } from "./stages.ts";

// drivers/routing-row.ts names the routing state by this module.
export type { RoutingState } from "./routing.ts";

export type FailoverAction =
  | { kind: "applyRouting"; routing: RoutingState; reason: string }
  | { kind: "promote"; region: Region }
  | { kind: "fence"; region: Region };

/** A Kubernetes Event for what automatic mode decided; the key makes a repeat a no-op. */
export interface FailoverEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
  dedupeKey: string;
  /** The Event's action; AutomaticFailover unless said otherwise. */
  action?: string;
}

export interface Decision {
  status: RegionFailoverStatus;
  actions: FailoverAction[];
  events: FailoverEvent[];
  /** Look again after this long: flips poll their gates, steady state re-checks health. */
  requeueAfterMs: number;
}

export const POLL_MS = 1000;
/**
 * How long a freeze takes to reach every app process: the router caches the routing row for 500 ms
 * and a write admitted just before may still be committing. Catch-up is measured only after this.
 */
export const FREEZE_PROPAGATION_SECONDS = 2;
export const STEADY_POLL_MS = 10_000;

const iso = (date: Date) => date.toISOString();
const seconds = (from: string | undefined, now: Date) =>
  from ? Math.max(0, (now.getTime() - Date.parse(from)) / 1000) : 0;

export function decideNextStep(
  rawSpec: RegionFailoverSpec,
  previous: RegionFailoverStatus | undefined,
  observations: Observations,
): Decision {
  const { now } = observations;
  const status: RegionFailoverStatus = structuredClone(previous ?? {});
  status.servingRegion ??= observations.routing?.activeRegion ?? "primary";
  const spec = runningSpec(effectiveSpec(rawSpec), status, observations.generation);
  const generationChanged = status.observedGeneration !== observations.generation;
  let requeueAfterMs = POLL_MS;
  const events: FailoverEvent[] = [];

  const target = status.targetRegion;
  const inFlight =
    status.phase === "Progressing" || status.phase === "Paused" || status.phase === "RollingBack";

  if (!inFlight) {
    // Steady, Completed, Aborted or Failed: start a flip only for a spec a human has touched since a
    // failed or aborted one, so a broken flip is not retried in a loop.
    const settledByHuman = !(status.phase === "Failed" || status.phase === "Aborted") || generationChanged;
    if (spec.activeRegion !== status.servingRegion && !spec.abort && !spec.paused && settledByHuman) {
      startFlip(status, spec, observations);
    } else if (watchForLoss(status, spec, observations, events)) {
      startFlip(status, automaticSpec(spec, status.targetRegion!), observations);
      events.push({
        type: "Warning",
        reason: "AutomaticFailoverStarted",
        note: `${status.automatic!.message} Fencing it, then promoting ${status.targetRegion} (Unplanned). Signals: ${signalSummary(status.automatic!.signals)}.`,
        dedupeKey: `automatic-${status.automatic!.triggeredAt}`,
      });
    } else {
      const humanCleared =
        (status.phase === "Failed" || status.phase === "Aborted") && generationChanged && !spec.abort;
      if (status.phase === undefined || humanCleared) status.phase = "Steady";
      status.message = steadyMessage(spec, status);
      requeueAfterMs = STEADY_POLL_MS;
    }
  } else if (target) {
    adoptUnexplainedPause(status, spec.paused, now);
    const fenceBefore = status.fence?.completedAt;
    advance(status, spec, observations);
    const overriddenBefore = previous?.fence?.overridden;
    if (status.fence?.overridden && !overriddenBefore)
      events.push({
        type: "Warning",
        reason: "FenceOverridden",
        note: `Promoting ${target} WITHOUT a confirmed fence of ${status.fence.target}'s database, on spec.fenceOverride at generation ${status.fence.overridden.generation ?? "?"}: "${status.fence.overridden.reason}". If ${status.fence.target}'s database comes back it may take writes: fence or destroy it before it rejoins.`,
        dedupeKey: `fence-overridden-${status.fence.requestedAt}`,
        action: "Failover",
      });
    else if (
      status.stage === "Fence" &&
      status.fence &&
      !status.fence.completedAt &&
      (status.fence.issuedAt || observations.failures?.fence)
    )
      // Once per fence: the flip is held, and only a human can tell a partition from a dead region.
      events.push({
        type: "Warning",
        reason: "FenceNotConfirmed",
        note: status.message ?? `Fence of ${status.fence.target}'s database not confirmed.`,
        dedupeKey: `fence-held-${status.fence.requestedAt}`,
        action: "Failover",
      });
    if (status.fence?.completedAt && !fenceBefore)
      events.push({
        type: "Normal",
        reason: "OldPrimaryFenced",
        note: `${status.fence.target}'s database is fenced (${status.fence.method ?? "confirmed by the driver"}); promoting ${target}.`,
        dedupeKey: `fenced-${status.fence.requestedAt}`,
      });
  }
  if (!(status.phase === "Progressing" || status.phase === "Paused" || status.phase === "RollingBack"))
    noteFailback(status, observations, events);

  syncPausePhase(status);
  status.observedGeneration = observations.generation;
  const routing = desiredRouting(spec, status, observations);
  status.conditions = conditionsFor(spec, status, observations, routing);
  // The read canary rides on the same routing row, its weight guarded by the same health gate.
  const canary = decideReadCanary(rawSpec, spec, status, observations);
  if (canary.status) status.readCanary = canary.status;
  status.conditions = readCanaryCondition(status.conditions, canary.status, observations);
  if (canary.weight > 0) routing.readCanaryWeight = canary.weight;
  events.push(...canary.events.map((e) => ({ ...e, action: "ReadCanary" })));
  if (
    status.phase === "Steady" ||
    status.phase === "Completed" ||
    status.phase === "Aborted" ||
    status.phase === "Failed"
  )
    // Automatic mode must see a loss within seconds, not at the next slow poll.
    // So must a serving read canary see its replica fall behind.
    requeueAfterMs = spec.automatic.enabled || canary.weight > 0 ? POLL_MS : STEADY_POLL_MS;
  if (status.phase === "Progressing" && status.stage === "ShiftTraffic" && status.stepStartedAt) {
    const left = spec.stepSeconds * 1000 - (now.getTime() - Date.parse(status.stepStartedAt));
    requeueAfterMs = Math.max(200, Math.min(POLL_MS, left));
  }

  const actions: FailoverAction[] = [];
  if (!sameRouting(observations.routing, routing)) {
    actions.push({ kind: "applyRouting", routing, reason: status.message ?? "failover" });
  }
  if (
    status.promotion &&
    !status.promotion.completedAt &&
    !status.promotion.issuedAt &&
    !observations.targetPromoted &&
    previous?.promotion?.requestedAt === status.promotion.requestedAt
  ) {
    // Intent was written by an earlier reconcile, and the database is still a replica: act now. Once
    // the driver has accepted the request (issuedAt), a slow promotion (RDS takes minutes) is only
    // observed: asking again would be refused and would not make it faster.
    actions.push({ kind: "promote", region: status.promotion.target });
  }
  if (
    status.fence &&
    !status.fence.completedAt &&
    !status.fence.issuedAt &&
    // Overridden: on-call declared the target unreachable; calling it again only fails the reconcile.
    !status.fence.overridden &&
    previous?.fence?.requestedAt === status.fence.requestedAt
  ) {
    // The same shape as promotion: intent read back from status, then the call. Sent even when the
    // fence already looks in force (a controller that died mid-fence): every driver's fence is
    // idempotent, and only an accepted call proves the whole fence (the RDS reboot) was made.
    actions.push({ kind: "fence", region: status.fence.target });
  }
  return { status, actions, events, requeueAfterMs };
}

/** Each signal as one line of an Event: "database failing (timeout); dnsHealthCheck healthy (3/3 ...)". */
function signalSummary(signals: SignalReading[] | undefined): string {
  return (signals ?? [])
    .map((s) => `${s.signal} ${s.healthy ? "healthy" : "failing"}${s.detail ? ` (${s.detail})` : ""}`)
    .join("; ");
}

/** True when status says the flip in progress (or just finished) was started by automatic mode. */
export function automaticFlip(status: RegionFailoverStatus): boolean {
  return status.automatic?.triggeredAt !== undefined && status.automatic.triggeredAt === status.startedAt;
}

/**
 * The spec the runbook runs. An automatic flip runs Unplanned to its target in one traffic step (the
 * old region has nothing left to serve), whatever spec says; and until a human edits spec after it
 * (a new generation), spec.activeRegion still naming the lost region is not a request to flip back.
 */
function runningSpec(spec: EffectiveSpec, status: RegionFailoverStatus, generation?: number): EffectiveSpec {
  const inFlight =
    status.phase === "Progressing" || status.phase === "Paused" || status.phase === "RollingBack";
  if (inFlight && automaticFlip(status) && status.targetRegion)
    return automaticSpec(spec, status.targetRegion);
  if (!inFlight && awaitingAcknowledgement(status, generation))
    return { ...spec, activeRegion: status.servingRegion ?? spec.activeRegion };
  return spec;
}

/**
 * One traffic step, Unplanned, and one healthy check of the target: the confirmation window has
 * already watched both regions for seconds, and every further second is an outage.
 */
function automaticSpec(spec: EffectiveSpec, target: Region): EffectiveSpec {
  return {
    ...spec,
    activeRegion: target,
    mode: "Unplanned",
    trafficSteps: [100],
    healthGate: { ...spec.healthGate, consecutiveHealthyChecks: 1 },
  };
}

function awaitingAcknowledgement(status: RegionFailoverStatus, generation?: number): boolean {
  const at = status.automatic?.triggeredAtGeneration;
  return at !== undefined && at === generation;
}

/**
 * Automatic mode in steady state: judges the serving primary and returns true when a flip must
 * start now (it then has written the trigger on status). At most one automatic flip per human
 * acknowledgement: after one, nothing automatic happens until spec is edited, so a primary that
 * keeps dying cannot bounce the region back and forth.
 */
function watchForLoss(
  status: RegionFailoverStatus,
  spec: EffectiveSpec,
  obs: Observations,
  events: FailoverEvent[],
): boolean {
  if (!spec.automatic.enabled || !obs.lossSignals) {
    if (status.automatic && !spec.automatic.enabled) {
      delete status.automatic.suspectSince;
      delete status.automatic.signals;
      status.automatic.message = "Automatic failover is off (spec.automatic.enabled).";
    }
    return false;
  }
  const serving = status.servingRegion ?? "primary";
  const standby = otherRegion(serving);
  if (awaitingAcknowledgement(status, obs.generation)) {
    status.automatic!.message = `Automatic failover to ${serving} at ${status.automatic!.triggeredAt} awaits acknowledgement: set spec.activeRegion to ${serving}. Nothing automatic happens until spec is edited.`;
    return false;
  }
  const verdict = judgePrimary(spec, status.automatic, serving, obs.lossSignals, obs.now);
  const cleared = (verdict.automatic.suspicionsCleared ?? 0) > (status.automatic?.suspicionsCleared ?? 0);
  status.automatic = verdict.automatic;
  if (cleared)
    events.push({
      type: "Normal",
      reason: "PrimaryLossNotConfirmed",
      note: `${serving}'s primary answered again before ${spec.automatic.confirmationSeconds} s of confirmation: no failover (suspicion ${verdict.automatic.suspicionsCleared} cleared).`,
      dedupeKey: `cleared-${verdict.automatic.suspicionsCleared}`,
    });
  if (!verdict.confirmed) return false;
  const blocked =
    spec.paused || spec.abort
      ? `spec.${spec.paused ? "paused" : "abort"} is true`
      : status.phase === "Failed" || status.phase === "Aborted"
        ? `the last flip ended ${status.phase}; a human must look first`
        : obs.targetIsReplica !== true && obs.targetPromoted !== false
          ? `${standby}'s database is not a replica that can be promoted`
          : undefined;
  if (blocked) {
    status.automatic.message = `${verdict.automatic.message} Not failing over: ${blocked}.`;
    return false;
  }
  // The suspicion is spent: the next one (about the new serving region) starts its own window.
  delete status.automatic.suspectSince;
  status.automatic.triggeredAt = obs.now.toISOString();
  status.automatic.lostRegion = serving;
  if (obs.generation !== undefined) status.automatic.triggeredAtGeneration = obs.generation;
  status.targetRegion = standby;
  return true;
}

/** After a flip: whether the old primary is back as a replica, so a planned flip back may start. */
function noteFailback(status: RegionFailoverStatus, obs: Observations, events: FailoverEvent[]): void {
  if (!status.completedAt || obs.targetIsReplica === undefined) return;
  const serving = status.servingRegion ?? "primary";
  const other = otherRegion(serving);
  const wasReady = status.failback?.ready ?? false;
  if (obs.targetIsReplica) {
    status.failback = {
      ready: true,
      ...(obs.replicationLagSeconds !== undefined ? { lagSeconds: obs.replicationLagSeconds } : {}),
      message: `${other}'s database is a streaming replica of ${serving}'s: a planned flip back (spec.activeRegion: ${other}, mode: Planned) may start.`,
    };
    if (!wasReady)
      events.push({
        type: "Normal",
        reason: "FailbackReady",
        note: status.failback.message!,
        dedupeKey: `failback-ready-${status.completedAt}`,
      });
  } else {
    status.failback = {
      ready: false,
      message: `${other}'s database is not a replica of ${serving}'s: rebuild it (pg_rewind or a fresh base backup; on RDS a new read replica) before flipping back.`,
    };
  }
}

function steadyMessage(spec: EffectiveSpec, status: RegionFailoverStatus): string {
  if (status.phase === "Aborted" || status.phase === "Failed") {
    if (spec.abort) return `${status.message ?? "Aborted."} Set spec.abort to false before the next flip.`;
    return status.message ?? "";
  }
  if (spec.activeRegion !== status.servingRegion) {
    if (spec.abort) return `spec.abort is true: set it to false to start the flip to ${spec.activeRegion}.`;
    if (spec.paused) return `spec.paused is true: set it to false to start the flip to ${spec.activeRegion}.`;
  }
  if (status.phase === "Completed") return status.message ?? `Serving from ${status.servingRegion}.`;
  return `Serving from ${status.servingRegion}.`;
}

function startFlip(status: RegionFailoverStatus, spec: EffectiveSpec, observations: Observations): void {
  const { now } = observations;
  status.phase = "Progressing";
  status.targetRegion = spec.activeRegion;
  status.mode = spec.mode;
  status.startedAt = iso(now);
  status.stages = [];
  status.stage = undefined;
  delete status.pauseConditions;
  enterStage(status, "PreChecks", now);
  status.healthyChecks = 0;
  status.trafficStep = undefined;
  status.stepStartedAt = undefined;
  status.trafficWeights = weightsFor(spec.activeRegion, 0);
  delete status.promotion;
  delete status.fence;
  delete status.failback;
  delete status.completedAt;
  delete status.rtoSeconds;
  delete status.lagAtCutoverSeconds;
  delete status.integrityAfter;
  status.integrityBefore = observations.integrity
    ? { ...observations.integrity, takenAt: iso(now) }
    : undefined;
  if (!status.integrityBefore) delete status.integrityBefore;
  status.message = `Flip to ${spec.activeRegion} (${spec.mode}) started: pre-checks.`;
  advance(status, spec, observations);
}

/** Past the point of no return: a promotion (or the fence before one) has been requested. */
function promotionRequested(status: RegionFailoverStatus): boolean {
  return status.promotion !== undefined || status.fence !== undefined;
}

/** Runs stages as far as the observations allow in this reconcile. */
function advance(status: RegionFailoverStatus, spec: EffectiveSpec, obs: Observations): void {
  const { now } = obs;
  const target = status.targetRegion!;
  const source = otherRegion(target);
  const targetSample = obs.health[target];
  const healthy = gatePasses(spec, targetSample);
  status.healthyChecks = healthy ? (status.healthyChecks ?? 0) + 1 : 0;
  const gateOpen = (status.healthyChecks ?? 0) >= spec.healthGate.consecutiveHealthyChecks;

  if (status.phase === "RollingBack") return finishRollback(status, spec, obs);

  // Once a fence is requested the old primary may already refuse writes: going back to it would be
  // an outage, so abort waits until the promotion it leads to is done.
  const fenceUnderWay = status.fence !== undefined && !status.promotion?.completedAt;
  if (spec.abort && !fenceUnderWay) {
    if (!promotionRequested(status)) {
      status.phase = "RollingBack";
      status.message = `Aborted by spec.abort at ${status.stage}: returning writes, runners and traffic to ${source}.`;
      return finishRollback(status, spec, obs);
    }
    if (!status.promotion?.completedAt) {
      // A promotion may be under way; going back now could leave two writable databases.
      if (!obs.targetPromoted) {
        status.message = `Abort requested while ${target}'s database is being promoted: finishing the promotion first (rolling back could leave two writers).`;
        return;
      }
      status.promotion = { ...status.promotion!, completedAt: iso(now) };
    }
    status.phase = "Aborted";
    status.servingRegion = target;
    status.completedAt = iso(now);
    enterStage(status, undefined, now);
    status.message = `Aborted after promotion: writes go to the promoted database in ${target}, unfrozen; traffic held at ${status.trafficWeights?.primary ?? 0}/${status.trafficWeights?.secondary ?? 0} (primary/secondary). Rebuild a replica in ${source} before flipping back; clearing spec.abort moves all traffic to ${target}.`;
    return;
  }

  if (spec.paused) {
    pause(status, "PausedBySpec", now);
    syncPausePhase(status);
    status.message = `Paused by spec.paused at ${status.stage}; set it to false to continue.`;
    // Frozen writes are an outage: the freeze timeout holds even while paused.
    checkFreezeTimeout(status, spec, obs);
    return;
  }
  // Cleared by a human; another cause (a failed health gate) may still hold the flip.
  unpause(status, "PausedBySpec");
  syncPausePhase(status);
  const routingIs = (want: Partial<RoutingState>) => routingMatches(obs.routing, want);

  // Each stage either finishes (and falls through to the next) or returns, waiting.
  for (let guard = 0; guard < STAGES.length + 2; guard++) {
    if (checkFreezeTimeout(status, spec, obs)) return;
    switch (status.stage) {
      case "PreChecks": {
        const lag = obs.replicationLagSeconds;
        const lagOk =
          spec.mode === "Unplanned" || (lag !== undefined && lag <= spec.maxReplicationLagSeconds);
        if (!gateOpen || !lagOk) {
          const unmeasured = obs.failures?.replication;
          const lagText =
            lag !== undefined
              ? `${lag.toFixed(1)} s`
              : unmeasured
                ? `unknown (${unmeasured.message})`
                : `unknown: is ${target}'s database a streaming replica of ${source}'s? After a flip, rebuild the old primary as a replica before flipping back`;
          status.message = `Pre-checks: ${describeSample(target, targetSample)}, ${status.healthyChecks}/${spec.healthGate.consecutiveHealthyChecks} healthy checks; replication lag ${lagText} (max ${spec.maxReplicationLagSeconds} s).`;
          return;
        }
        enterStage(status, "FreezeWrites", now);
        status.message = "Freezing writes.";
        break;
      }
      case "FreezeWrites":
        // Unplanned: the routing row lives on the lost primary; nothing can be written there anyway.
        if (spec.mode === "Planned") {
          if (!routingIs({ writesFrozen: true })) return;
          if (seconds(stageStartedAt(status, "FreezeWrites"), now) < FREEZE_PROPAGATION_SECONDS) {
            status.message = "Writes frozen; letting the freeze reach every app process.";
            return;
          }
        }
        enterStage(status, "DrainRunners", now);
        status.message = "Writes frozen; pausing and draining runners.";
        break;
      case "DrainRunners":
        if (spec.mode === "Planned" && !routingIs({ runnersPaused: true })) return;
        // An unplanned flip cannot wait for runners whose database is gone; their claims expire.
        if (spec.mode === "Planned" && !obs.runnersDrained) {
          status.message = "Runners paused; waiting for in-flight jobs to finish.";
          return;
        }
        enterStage(status, "CatchUp", now);
        status.message = "Runners drained; waiting for the replica to catch up.";
        break;
      case "CatchUp":
        if (spec.mode === "Planned" && !obs.replicaCaughtUp) {
          const unmeasured = obs.failures?.replication;
          status.message = `Waiting for ${target}'s replica to replay every write (lag ${obs.replicationLagSeconds?.toFixed(2) ?? "unknown"} s)${unmeasured ? `; replication could not be measured: ${unmeasured.message}` : ""}.`;
          return;
        }
        status.lagAtCutoverSeconds = spec.mode === "Planned" ? 0 : (obs.replicationLagSeconds ?? 0);
        if (spec.mode === "Unplanned") {
          // Automatic or manual, an unplanned flip promotes while the old primary may still be
          // alive (a partition looks like a loss): make sure it can never take a write again first.
          enterStage(status, "Fence", now);
          status.fence = {
            target: source,
            requestedAt: iso(now),
            ...(obs.generation !== undefined ? { requestedAtGeneration: obs.generation } : {}),
          };
          status.message = `Fencing ${source}'s database before promoting ${target}.`;
          return;
        }
        enterStage(status, "Promote", now);
        // Intent first: the promote action is only taken by a later reconcile that reads it back.
        status.promotion = { target, requestedAt: iso(now) };
        status.message = `Promoting ${target}'s database.`;
        return;
      case "Fence": {
        status.fence ??= { target: source, requestedAt: iso(now) };
        if (!status.fence.completedAt) {
          // Confirmed means: the fence call was accepted (issuedAt) and its effect is seen since.
          if (!status.fence.issuedAt || !obs.sourceFenced) {
            const failure = obs.failures?.fence ?? obs.failures?.sourceFenced;
            const issued = status.fence.issuedAt
              ? `, accepted ${status.fence.issuedAt}${status.fence.method ? ` (${status.fence.method})` : ""}; waiting for confirmation`
              : "";
            const override = usableOverride(spec, status, obs);
            if (!override.usable) {
              // Never promote on hope: an unconfirmed fence holds the flip here, however long,
              // unless on-call declares the old region dead (spec.fenceOverride, audited).
              status.message = `Fencing ${source}'s database (requested ${status.fence.requestedAt}${issued}); nothing is promoted until it is confirmed to refuse writes${failure ? `; ${failure.message}` : ""}. ${override.why}`;
              return;
            }
            status.fence = {
              ...status.fence,
              overridden: {
                reason: spec.fenceOverride!.reason,
                at: iso(now),
                ...(obs.generation !== undefined ? { generation: obs.generation } : {}),
              },
            };
            enterStage(status, "Promote", now);
            status.promotion = { target, requestedAt: iso(now) };
            status.message = `Fence of ${source}'s database NOT confirmed; promoting ${target}'s database anyway on spec.fenceOverride ("${spec.fenceOverride!.reason}").`;
            return;
          }
          status.fence = { ...status.fence, completedAt: iso(now) };
        }
        enterStage(status, "Promote", now);
        status.promotion = { target, requestedAt: iso(now) };
        status.message = `${source}'s database is fenced; promoting ${target}'s database.`;
        return;
      }
      case "Promote":
        if (!status.promotion) status.promotion = { target, requestedAt: iso(now) };
        if (!status.promotion.completedAt) {
          if (!obs.targetPromoted) {
            const failure = obs.failures?.promote ?? obs.failures?.targetPromoted;
            const issued = status.promotion.issuedAt
              ? `, accepted ${status.promotion.issuedAt}; waiting for it to accept writes`
              : "";
            status.message = `Promoting ${target}'s database (requested ${status.promotion.requestedAt}${issued})${failure ? `; ${failure.message}` : ""}.`;
            return;
          }
          status.promotion = { ...status.promotion, completedAt: iso(now) };
        }
        enterStage(status, "RepointWriters", now);
        status.message = `${target}'s database accepts writes; repointing writers.`;
        break;
      case "RepointWriters":
        if (!routingIs({ activeRegion: target })) return;
        enterStage(status, "ShiftTraffic", now);
        status.trafficStep = 0;
        status.trafficWeights = weightsFor(target, spec.trafficSteps[0] ?? 100);
        status.stepStartedAt = iso(now);
        status.message = `Shifting ${spec.trafficSteps[0]} % of traffic to ${target}.`;
        return;
      case "ShiftTraffic": {
        const step = status.trafficStep ?? 0;
        const percent = spec.trafficSteps[step] ?? 100;
        const weights = weightsFor(target, percent);
        status.trafficWeights = weights;
        if (!routingIs({ weights })) return;
        if (!healthy) return gateFailed(status, spec, obs);
        if (pausedBy(status, "HealthGateFailed")) {
          // Held by a failed gate: resume once the gate is open again, restarting the step's hold.
          if (!gateOpen) {
            status.message = `Health gate recovering: ${status.healthyChecks}/${spec.healthGate.consecutiveHealthyChecks} healthy checks.`;
            return;
          }
          unpause(status, "HealthGateFailed");
          syncPausePhase(status);
          status.stepStartedAt = iso(now);
        }
        if (percent >= 100) {
          status.rtoSeconds ??= Math.round(seconds(status.startedAt, now) * 10) / 10;
          enterStage(status, "Unfreeze", now);
          status.message = `All traffic on ${target}; unfreezing writes.`;
          break;
        }
        const held = seconds(status.stepStartedAt, now);
        if (!gateOpen || held < spec.stepSeconds) {
          status.message = `${percent} % on ${target}, holding ${Math.floor(held)}/${spec.stepSeconds} s; ${describeSample(target, targetSample)}.`;
          return;
        }
        status.trafficStep = step + 1;
        status.trafficWeights = weightsFor(target, spec.trafficSteps[step + 1] ?? 100);
        status.stepStartedAt = iso(now);
        status.healthyChecks = 0;
        status.message = `Shifting ${spec.trafficSteps[step + 1]} % of traffic to ${target}.`;
        return;
      }
      case "Unfreeze":
        if (!routingIs({ writesFrozen: false })) return;
        enterStage(status, "ResumeRunners", now);
        status.message = "Writes unfrozen; resuming runners.";
        break;
      case "ResumeRunners":
        if (!routingIs({ runnersPaused: false })) return;
        enterStage(status, "VerifyIntegrity", now);
        status.message = "Runners resumed; checking integrity.";
        break;
      case "VerifyIntegrity": {
        if (obs.integrity) status.integrityAfter = { ...obs.integrity, takenAt: iso(now) };
        status.phase = "Completed";
        status.servingRegion = target;
        status.completedAt = iso(now);
        enterStage(status, undefined, now);
        const verdict = integrityVerdict(spec, status);
        const integrity =
          verdict.ok === undefined
            ? `integrity not checked (${verdict.message})`
            : verdict.ok
              ? "integrity verified"
              : `integrity NOT verified (${verdict.message})`;
        status.message = `Serving from ${target} since ${status.completedAt}: RTO ${status.rtoSeconds ?? "?"} s, lag at cutover ${status.lagAtCutoverSeconds ?? "?"} s; ${integrity}.`;
        return;
      }
      default:
        return;
    }
  }
}

/**
 * Whether spec.fenceOverride may let this flip past its unconfirmed fence, and if not, what on-call
 * would have to do. It must name the fence's target and have been written after the fence was
 * requested, so an override left in spec from an earlier incident never skips a fence untried.
 */
function usableOverride(
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
  obs: Observations,
): { usable: boolean; why: string } {
  const fence = status.fence!;
  const declare = `If ${fence.target}'s region is truly unreachable (no SQL, no provider API), set spec.fenceOverride: {region: ${fence.target}, reason: "<incident and what was checked>"} to promote anyway; if its database is in fact alive, two databases will take writes.`;
  const override = spec.fenceOverride;
  if (!override) return { usable: false, why: declare };
  if (override.region !== fence.target)
    return {
      usable: false,
      why: `spec.fenceOverride names ${override.region}, not ${fence.target} whose fence is held: ignored. ${declare}`,
    };
  const requestedAt = fence.requestedAtGeneration;
  if (requestedAt !== undefined && obs.generation !== undefined && obs.generation <= requestedAt)
    return {
      usable: false,
      why: `spec.fenceOverride was already in spec (generation ${obs.generation}) when this fence was requested; the fence is tried first: once it is held, edit spec.fenceOverride.reason to confirm ${fence.target} is dead.`,
    };
  return { usable: true, why: "" };
}

function checkFreezeTimeout(status: RegionFailoverStatus, spec: EffectiveSpec, obs: Observations): boolean {
  if (promotionRequested(status) || !atOrAfter(status.stage, "FreezeWrites")) return false;
  const frozenFor = seconds(stageStartedAt(status, "FreezeWrites"), obs.now);
  if (frozenFor <= spec.writeFreezeTimeoutSeconds) return false;
  status.phase = "RollingBack";
  status.message = `Writes were frozen ${Math.round(frozenFor)} s at ${status.stage}, over spec.writeFreezeTimeoutSeconds (${spec.writeFreezeTimeoutSeconds} s): rolling back to ${otherRegion(status.targetRegion!)} before promoting.`;
  finishRollback(status, spec, obs);
  return true;
}

/** Pre-promotion rollback: done once the routing state is back on the source region. */
function finishRollback(status: RegionFailoverStatus, spec: EffectiveSpec, obs: Observations): void {
  const source = otherRegion(status.targetRegion!);
  const back = obs.routing
    ? obs.routing.activeRegion === source &&
      !obs.routing.writesFrozen &&
      !obs.routing.runnersPaused &&
      obs.routing.weights[source] === 100
    : false;
  status.trafficWeights = weightsFor(status.targetRegion!, 0);
  if (!back) return;
  const aborted = spec.abort;
  status.phase = aborted ? "Aborted" : "Failed";
  status.servingRegion = source;
  status.completedAt = iso(obs.now);
  enterStage(status, undefined, obs.now);
  status.message =
    `${aborted ? "Aborted" : "Rolled back"}: serving from ${source} again, writes unfrozen, runners resumed; nothing was promoted. ${status.message ?? ""}`.trim();
}

function gateFailed(status: RegionFailoverStatus, spec: EffectiveSpec, obs: Observations): void {
  const target = status.targetRegion!;
  const why = describeSample(target, obs.health[target]);
  if (spec.onGateFailure === "Pause") {
    pause(status, "HealthGateFailed", obs.now);
    syncPausePhase(status);
    status.message = `Health gate failed at ${status.trafficWeights?.[target] ?? 0} % on ${target} (${why}): holding traffic here until ${spec.healthGate.consecutiveHealthyChecks} healthy checks in a row, or set spec.abort.`;
    return;
  }
  // Rollback after promotion: traffic goes back, writes stay on the only writable database.
  status.trafficWeights = weightsFor(target, 0);
  status.phase = "Aborted";
  status.servingRegion = target;
  status.completedAt = iso(obs.now);
  enterStage(status, undefined, obs.now);
  status.message = `Health gate failed (${why}) with onGateFailure Rollback: traffic back on ${otherRegion(target)}, writes on the promoted database in ${target}, unfrozen.`;
}
