// The RegionFailover conditions on-call reads: one per gate of the runbook, computed from status and
// the latest observations. A part that could not be observed says so with the driver's typed reason
// (PermissionDenied, Unreachable, ...) and message, rather than looking like a plain "not yet". Pure.
import {
  FailoverConditions,
  otherRegion,
  type EffectiveSpec,
  type RegionFailoverStatus,
} from "../../api/regionfailover.ts";
import type { Condition } from "../../api/types.ts";
import { setCondition, type ConditionInput } from "../../runtime/conditions.ts";
import { describeSample, gatePasses } from "./health-gate.ts";
import type { Observations } from "./observations.ts";
import type { RoutingState } from "./routing.ts";

export function integrityVerdict(
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
): { ok: boolean | undefined; message: string } {
  const before = status.integrityBefore;
  const after = status.integrityAfter;
  if (!before || !after) return { ok: undefined, message: "no integrity snapshot was taken" };
  const problems: string[] = [];
  if (after.invoices < before.invoices)
    problems.push(`invoices went from ${before.invoices} to ${after.invoices}`);
  if (after.errorRatePercent > Math.max(before.errorRatePercent, spec.healthGate.maxErrorRatePercent))
    problems.push(`error rate ${after.errorRatePercent} % after vs ${before.errorRatePercent} % before`);
  const message = `invoices ${before.invoices} -> ${after.invoices}, queue depth ${before.queueDepth} -> ${after.queueDepth}, error rate ${before.errorRatePercent} % -> ${after.errorRatePercent} %`;
  return problems.length ? { ok: false, message: problems.join("; ") } : { ok: true, message };
}

export function conditionsFor(
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
  obs: Observations,
  routing: RoutingState,
): Condition[] {
  const inputs: ConditionInput[] = [];
  const C = FailoverConditions;
  const failed = obs.failures ?? {};
  const target = status.targetRegion ?? otherRegion(status.servingRegion ?? "primary");
  const sample = obs.health[target];
  const checks = status.healthyChecks ?? 0;
  // During pre-checks the gate opens only after enough healthy checks in a row; later, per sample.
  const warming = status.phase === "Progressing" && status.stage === "PreChecks";
  const open = gatePasses(spec, sample) && (!warming || checks >= spec.healthGate.consecutiveHealthyChecks);
  inputs.push({
    type: C.HealthGateOpen,
    status: open ? "True" : "False",
    reason: open ? "TargetHealthy" : sample ? "TargetUnhealthy" : "NoHealthSample",
    message: `${sample || !failed.health ? describeSample(target, sample) : failed.health.message}; gate: <= ${spec.healthGate.maxErrorRatePercent} % errors, p95 <= ${spec.healthGate.maxP95LatencyMs} ms, ${spec.healthGate.consecutiveHealthyChecks} checks in a row.`,
  });

  const frozen = obs.routing?.writesFrozen;
  const writeFailed = failed.applyRouting
    ? ` The last routing change failed: ${failed.applyRouting.message}.`
    : "";
  inputs.push(
    frozen === undefined
      ? {
          type: C.WritesFrozen,
          status: "Unknown",
          reason: failed.routing?.reason ?? "RoutingUnreadable",
          message: `${failed.routing?.message ?? "The routing state could not be read."}${writeFailed}`,
        }
      : {
          type: C.WritesFrozen,
          status: frozen ? "True" : "False",
          reason: failed.applyRouting?.reason ?? (frozen ? "Frozen" : "Accepting"),
          message: `${frozen ? "Writes answer 503 with Retry-After." : "Writes are accepted."}${writeFailed}`,
        },
  );

  const paused = obs.routing?.runnersPaused ?? false;
  const drained = paused && obs.runnersDrained;
  inputs.push(
    paused && failed.runnersDrained
      ? {
          type: C.JobsDrained,
          status: "Unknown",
          reason: failed.runnersDrained.reason,
          message: `Runners are paused; whether they still hold jobs could not be read: ${failed.runnersDrained.message}.`,
        }
      : {
          type: C.JobsDrained,
          status: drained ? "True" : "False",
          reason: drained ? "Drained" : paused ? "Draining" : "RunnersActive",
          message: drained
            ? "Runners are paused and hold no jobs."
            : paused
              ? "Runners are paused; in-flight jobs are finishing."
              : "Runners are claiming jobs.",
        },
  );

  const lag = obs.replicationLagSeconds;
  const lagText = `${lag === undefined ? "unknown" : `${lag.toFixed(2)} s`} (max ${spec.maxReplicationLagSeconds} s)`;
  inputs.push(
    !obs.replicaCaughtUp && failed.replication
      ? {
          type: C.ReplicaCaughtUp,
          status: "Unknown",
          reason: failed.replication.reason,
          message: `Replication could not be measured: ${failed.replication.message}. Last known lag ${lagText}.`,
        }
      : {
          type: C.ReplicaCaughtUp,
          status: obs.replicaCaughtUp ? "True" : lag === undefined ? "Unknown" : "False",
          reason: obs.replicaCaughtUp ? "CaughtUp" : lag === undefined ? "LagUnknown" : "Lagging",
          message: `Replication lag ${lagText}.`,
        },
  );

  const promotion = status.promotion;
  const pending = promotion && !promotion.completedAt;
  const promoteFailure = pending ? (failed.promote ?? failed.targetPromoted) : undefined;
  inputs.push({
    type: C.Promoted,
    status: promotion?.completedAt ? "True" : "False",
    reason: promotion?.completedAt
      ? "Promoted"
      : (promoteFailure?.reason ??
        (promotion?.issuedAt ? "PromotionInProgress" : promotion ? "PromotionRequested" : "NotPromoted")),
    message: promotion?.completedAt
      ? `${promotion.target}'s database was promoted at ${promotion.completedAt}.`
      : promotion
        ? `Promotion of ${promotion.target}'s database requested at ${promotion.requestedAt}${
            promotion.issuedAt ? `, accepted by the database at ${promotion.issuedAt}` : ""
          }.${
            failed.promote
              ? ` The last attempt failed: ${failed.promote.message}.`
              : failed.targetPromoted
                ? ` Whether it accepts writes could not be read: ${failed.targetPromoted.message}.`
                : ""
          }`
        : "No promotion in this flip.",
  });

  const weights = obs.routing?.weights ?? routing.weights;
  const shifted = status.targetRegion !== undefined && weights[status.targetRegion] === 100;
  inputs.push({
    type: C.TrafficShifted,
    status: shifted ? "True" : "False",
    reason: shifted ? "AllTrafficShifted" : status.stage === "ShiftTraffic" ? "Shifting" : "NotShifted",
    message: `Traffic primary ${weights.primary} %, secondary ${weights.secondary} %.`,
  });

  const verdict = integrityVerdict(spec, status);
  const integrityFailure = verdict.ok === undefined ? failed.integrity : undefined;
  inputs.push({
    type: C.IntegrityVerified,
    status: verdict.ok === undefined ? "Unknown" : verdict.ok ? "True" : "False",
    reason:
      integrityFailure?.reason ??
      (verdict.ok === undefined ? "NotChecked" : verdict.ok ? "Consistent" : "Mismatch"),
    message: integrityFailure ? `${verdict.message}: ${integrityFailure.message}` : verdict.message,
  });

  inputs.push(...automaticConditions(spec, status, obs));

  let conditions = status.conditions ?? [];
  for (const input of inputs) conditions = setCondition(conditions, input, obs.generation, obs.now);
  return conditions;
}

/** Automatic mode's conditions: present only once it is enabled or has acted. */
function automaticConditions(
  spec: EffectiveSpec,
  status: RegionFailoverStatus,
  obs: Observations,
): ConditionInput[] {
  const C = FailoverConditions;
  const inputs: ConditionInput[] = [];
  const auto = status.automatic;
  if (spec.automatic.enabled || auto) {
    const triggered = auto?.triggeredAt !== undefined && auto.triggeredAt === status.startedAt;
    inputs.push({
      type: C.PrimaryLossDetected,
      status: triggered ? "True" : auto?.suspectSince ? "Unknown" : "False",
      reason:
        !spec.automatic.enabled && !triggered
          ? "AutomaticOff"
          : triggered
            ? "LossConfirmed"
            : auto?.suspectSince
              ? "Confirming"
              : "PrimaryHealthy",
      message: auto?.message ?? "No reading yet.",
    });
  }
  const fence = status.fence;
  if (fence) {
    const failure = fence.completedAt ? undefined : (obs.failures?.fence ?? obs.failures?.sourceFenced);
    inputs.push({
      type: C.OldPrimaryFenced,
      status: fence.completedAt ? "True" : "False",
      reason: fence.completedAt
        ? "Fenced"
        : fence.overridden
          ? "FenceOverridden"
          : (failure?.reason ?? (fence.issuedAt ? "FenceNotConfirmed" : "FenceRequested")),
      message: fence.completedAt
        ? `${fence.target}'s database refuses writes since ${fence.completedAt} (${fence.method ?? "confirmed"}).`
        : fence.overridden
          ? `Fence of ${fence.target}'s database NOT confirmed; promotion went ahead at ${fence.overridden.at} on spec.fenceOverride: "${fence.overridden.reason}". Fence or destroy ${fence.target}'s database before it rejoins.`
          : `Fence of ${fence.target}'s database requested at ${fence.requestedAt}${fence.issuedAt ? `, accepted at ${fence.issuedAt}` : ""}; nothing is promoted until it is confirmed.${failure ? ` ${failure.message}.` : ""} Fix what stops the fence, or, if ${fence.target}'s region is truly unreachable, set spec.fenceOverride {region: ${fence.target}, reason}.`,
    });
  }
  if (status.failback) {
    inputs.push({
      type: C.FailbackReady,
      status: status.failback.ready ? "True" : "False",
      reason: status.failback.ready ? "ReplicaStreaming" : "RebuildNeeded",
      message: status.failback.message ?? "",
    });
  }
  return inputs;
}
