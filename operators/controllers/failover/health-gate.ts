// The health gate: whether the flip's target region is healthy enough for the next step, and the
// sentence that says why in status. Pure.
import type { EffectiveSpec, Region } from "../../api/regionfailover.ts";
import type { HealthSample } from "./observations.ts";

export function gatePasses(spec: EffectiveSpec, sample: HealthSample | undefined): boolean {
  return (
    sample !== undefined &&
    sample.ready &&
    sample.errorRatePercent <= spec.healthGate.maxErrorRatePercent &&
    sample.p95LatencyMs <= spec.healthGate.maxP95LatencyMs
  );
}

export function describeSample(region: Region, sample: HealthSample | undefined): string {
  if (!sample) return `${region}: no health sample`;
  return `${region}: ${sample.ready ? "ready" : "not ready"}, ${sample.errorRatePercent.toFixed(1)} % errors, p95 ${Math.round(sample.p95LatencyMs)} ms${sample.detail ? ` (${sample.detail})` : ""}`;
}
