import { describe, expect, it } from "vitest";
import type { ModelVersion, PricingModelSpec } from "../../api/pricingmodel.ts";
import { decide } from "./decide.ts";
import { completeStatus, recordChecksums, specHash, specProblem, versionChecksum } from "./status.ts";

const version = (name: string, marginRate = 0.15): ModelVersion => ({
  name,
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate },
  guardrails: { minMarginPercent: 8 },
});
const now = new Date("2026-12-02T12:00:00Z");

describe("what the pricing controller adds around decide()", () => {
  it("refuses a version name listed again with other content, naming both checksums and the fix", () => {
    const spec: PricingModelSpec = { versions: [version("v1"), version("v2")], aliases: { champion: "v1" } };
    const recorded = { versionChecksums: recordChecksums(spec, {}) };
    const dropped = { versions: [version("v1")], aliases: { champion: "v1" } };
    const kept = { versionChecksums: recordChecksums(dropped, recorded) };
    expect(kept.versionChecksums.map((c) => c.name)).toEqual(["v1", "v2"]);
    const relisted: PricingModelSpec = {
      versions: [version("v1"), version("v2", 0.3)],
      aliases: { champion: "v1", challenger: "v2" },
    };
    expect(specProblem(relisted, kept)).toMatchObject({
      reason: "VersionChanged",
      message: expect.stringMatching(
        new RegExp(
          `version v2 was listed before.*checksum ${versionChecksum(version("v2")).slice(0, 12)}.*\\(e.g. v2-2\\)`,
        ),
      ),
    });
    expect(specProblem({ ...relisted, versions: [version("v1"), version("v2")] }, kept)).toBeUndefined();
  });

  it("refuses to start an experiment while the last rollback's abort is still set, but honours abort on a running one", () => {
    const spec: PricingModelSpec = {
      versions: [version("v1"), version("v2")],
      aliases: { champion: "v1", challenger: "v2" },
      abort: true,
    };
    expect(specProblem(spec, { champion: "v1" })?.reason).toBe("AbortStillSet");
    expect(specProblem(spec, { champion: "v1", challenger: "v2", phase: "Progressing" })).toBeUndefined();
  });

  it("records the hashes and conditions with the deciding value; a steady state completes to the same status", () => {
    const spec: PricingModelSpec = {
      versions: [version("v1"), version("v2")],
      aliases: { champion: "v1", challenger: "v2" },
      steps: [{ weights: { champion: 90, challenger: 10 }, analysis: { minSamples: 5 } }],
    };
    const hash = specHash(spec);
    const started = decide(spec, {}, { now }, 1);
    const first = completeStatus({
      spec,
      stored: {},
      decided: started,
      problem: undefined,
      generation: 1,
      hash,
      splitChanges: true,
      now,
    });
    expect(first).toMatchObject({ phase: "Progressing", lastAppliedHash: hash, observedGeneration: 1 });
    const metrics = {
      champion: { quotes: 90, samples: 20, capBreaches: 0, absVariancePercent: 2, marginPercent: 14 },
      challenger: { quotes: 10, samples: 8, capBreaches: 0, absVariancePercent: 12.5, marginPercent: 14 },
    };
    const failed = completeStatus({
      spec,
      stored: first,
      decided: decide(spec, first, { now, metrics }, 1),
      problem: undefined,
      generation: 1,
      hash,
      splitChanges: true,
      now,
    });
    expect(failed.conditions?.find((c) => c.type === "Analysis")).toMatchObject({
      status: "False",
      reason: "VarianceExceeded",
      message: expect.stringContaining("12.50 % > 10 %"),
    });
    expect(failed.conditions?.map((c) => c.type)).toEqual(["Ready", "SpecValid", "Analysis"]);
    const again = completeStatus({
      spec,
      stored: failed,
      decided: decide(spec, failed, { now: new Date(now.getTime() + 60_000), metrics }, 1),
      problem: undefined,
      generation: 1,
      hash,
      splitChanges: false,
      now: new Date(now.getTime() + 60_000),
    });
    expect(again).toEqual(failed);
  });
});
