// The runbook's stage bookkeeping on status: which stage a flip is at, whether it is past another,
// and the timing of each stage (status.stages). Pure; mutates only the status it is given.
import { STAGES, type RegionFailoverStatus, type Stage } from "../../api/regionfailover.ts";

const stageIndex = (stage: Stage | undefined) => (stage ? STAGES.indexOf(stage) : -1);

export const atOrAfter = (stage: Stage | undefined, than: Stage) => stageIndex(stage) >= stageIndex(than);

/** Moves `status` to `next`, closing the current stage's timing and opening the next one's. */
export function enterStage(status: RegionFailoverStatus, next: Stage | undefined, now: Date): void {
  const stamp = now.toISOString();
  status.stages = (status.stages ?? []).map((t) =>
    t.stage === status.stage && !t.finishedAt ? { ...t, finishedAt: stamp } : t,
  );
  status.stage = next;
  if (next) status.stages.push({ stage: next, startedAt: stamp });
}

export function stageStartedAt(status: RegionFailoverStatus, stage: Stage): string | undefined {
  return status.stages?.find((t) => t.stage === stage)?.startedAt;
}
