// Pause state on status, as Argo Rollouts keeps it: one pause condition per cause with its start
// time. A flip in flight is Paused exactly while a cause holds it; each cause is added and cleared
// by the code that owns it (spec.paused, the health gate), never inferred from the message. Pure.
import type { PauseReason, RegionFailoverStatus } from "../../api/regionfailover.ts";

export function pausedBy(status: RegionFailoverStatus, reason: PauseReason): boolean {
  return status.pauseConditions?.some((c) => c.reason === reason) ?? false;
}

/** Adds the cause (keeping its start time when it already holds the flip). */
export function pause(status: RegionFailoverStatus, reason: PauseReason, now: Date): void {
  if (pausedBy(status, reason)) return;
  status.pauseConditions = [...(status.pauseConditions ?? []), { reason, startTime: now.toISOString() }];
}

export function unpause(status: RegionFailoverStatus, reason: PauseReason): void {
  if (!pausedBy(status, reason)) return;
  status.pauseConditions = status.pauseConditions!.filter((c) => c.reason !== reason);
}

/**
 * Makes phase follow the causes: a running flip is Paused while any cause holds it, Progressing
 * otherwise; a flip that left those phases (rolled back, completed, aborted) holds no causes.
 */
export function syncPausePhase(status: RegionFailoverStatus): void {
  if (status.phase === "Progressing" || status.phase === "Paused") {
    status.phase = status.pauseConditions?.length ? "Paused" : "Progressing";
  } else {
    delete status.pauseConditions;
  }
  if (status.pauseConditions?.length === 0) delete status.pauseConditions;
}

/**
 * A status written before pauseConditions existed says Paused without a cause. The only two ways
 * into Paused were spec.paused and a failed gate, so the cause is whichever spec does not explain.
 */
export function adoptUnexplainedPause(status: RegionFailoverStatus, specPaused: boolean, now: Date): void {
  if (status.phase !== "Paused" || status.pauseConditions?.length) return;
  pause(status, specPaused ? "PausedBySpec" : "HealthGateFailed", now);
}
