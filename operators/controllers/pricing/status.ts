// What the reconciler adds around decide(): the checks the API server cannot make (a version name
// reused for other content after it was removed, a leftover abort), the spec hashes, each version's
// checksum, and the conditions with the reason and the value that decided. Pure, like decide().
import { createHash } from "node:crypto";
import type { PricingVersion } from "../../../app/pricing/model-version.ts";
import type { ModelVersion, PricingModelSpec, PricingModelStatus, Phase } from "../../api/pricingmodel.ts";
import type { Condition } from "../../api/types.ts";
import { setCondition } from "../../runtime/conditions.ts";
import { canonical } from "../../runtime/status.ts";
import { splitOf } from "./decide.ts";

export const PricingConditions = {
  /** The spec can be applied: every version is what it was when first listed, the aliases resolve. */
  SpecValid: "SpecValid",
  /** The split in force is the one the rollout wants, and the rollout is healthy. */
  Ready: "Ready",
  /** The last analysis: True passed, False failed (with the value), Unknown inconclusive or not run. */
  Analysis: "Analysis",
} as const;

/** status.versionChecksums holds at most this many (the CRD's maxItems). */
const MAX_CHECKSUMS = 20;

const sha256 = (value: unknown) => createHash("sha256").update(canonical(value)).digest("hex");

export function specHash(spec: PricingModelSpec): string {
  return sha256(spec);
}

/** A version's checksum covers everything that prices: coefficients and guardrails (and its name). */
export function versionChecksum(version: ModelVersion): string {
  return sha256({ name: version.name, coefficients: version.coefficients, guardrails: version.guardrails });
}

/** The app's shape of a version (app/pricing/model-version.ts), as the split row carries it. */
export function pricingVersion(version: ModelVersion): PricingVersion {
  return { name: version.name, coefficients: version.coefficients, guardrails: version.guardrails };
}

export interface SpecProblem {
  reason: "VersionChanged" | "VersionMissing" | "AbortStillSet" | "WrongNamespace";
  message: string;
}

/**
 * Why the spec cannot be applied, or undefined. The CRD refuses an edit of a listed version; this
 * catches the same name listed again with other content after a removal, which would make quotes
 * already recorded under that name mean two things.
 */
export function specProblem(spec: PricingModelSpec, status: PricingModelStatus): SpecProblem | undefined {
  const recorded = new Map((status.versionChecksums ?? []).map((c) => [c.name, c.checksum]));
  for (const version of spec.versions) {
    const before = recorded.get(version.name);
    const now = versionChecksum(version);
    if (before && before !== now) {
      return {
        reason: "VersionChanged",
        message: `version ${version.name} was listed before with other content (checksum ${before.slice(0, 12)}, now ${now.slice(0, 12)}); quotes already carry that name. Restore its content, or list the new content under a new name (e.g. ${version.name}-2) and point the alias at it`,
      };
    }
  }
  for (const alias of ["champion", "challenger"] as const) {
    const name = spec.aliases[alias];
    if (name && !spec.versions.some((v) => v.name === name)) {
      return {
        reason: "VersionMissing",
        message: `alias ${alias} points at ${name}, which is not in spec.versions: list it or point the alias at a listed version`,
      };
    }
  }
  const challenger = spec.aliases.challenger;
  if (
    spec.abort &&
    challenger &&
    (status.champion !== spec.aliases.champion || status.challenger !== challenger)
  ) {
    return {
      reason: "AbortStillSet",
      message: `spec.abort is still true (the last rollback), so ${challenger} would be rolled back as soon as it started: set spec.abort to false to start the experiment`,
    };
  }
  return undefined;
}

/** Checksums of the listed versions plus those recorded before (newest kept when over the limit). */
export function recordChecksums(
  spec: PricingModelSpec,
  status: PricingModelStatus,
): { name: string; checksum: string }[] {
  const listed = spec.versions.map((v) => ({ name: v.name, checksum: versionChecksum(v) }));
  const unlisted = (status.versionChecksums ?? []).filter(
    (c) => !spec.versions.some((v) => v.name === c.name),
  );
  // Versions no longer listed are remembered while there is room: their names stay taken.
  return [...listed, ...unlisted].slice(0, MAX_CHECKSUMS);
}

/** The split row's content for a status: which versions price and at what weight. */
export function desiredSplit(
  model: string,
  spec: PricingModelSpec,
  status: PricingModelStatus,
): {
  bucketVersion: number;
  champion: PricingVersion;
  challenger?: PricingVersion;
  challengerWeight: number;
} {
  const split = splitOf(status)!;
  const find = (name: string) => {
    const version = spec.versions.find((v) => v.name === name);
    if (!version) throw new Error(`${model}: version ${name} is not in spec.versions`);
    return pricingVersion(version);
  };
  return {
    bucketVersion: spec.bucketVersion ?? 1,
    champion: find(split.champion),
    ...(split.challenger ? { challenger: find(split.challenger) } : {}),
    challengerWeight: split.challenger ? split.weights.challenger : 0,
  };
}

/** A CamelCase reason for what decided a rollback, freeze or pause, from decide()'s sentence. */
export function reasonCode(reason: string): string {
  if (/absolute variance/.test(reason)) return "VarianceExceeded";
  if (/realised margin/.test(reason)) return "MarginBelowFloor";
  if (/regional cap/.test(reason)) return "CapBreached";
  if (/sample-ratio mismatch/.test(reason)) return "SampleRatioMismatch";
  if (/deadline/.test(reason)) return "DeadlineExceeded";
  if (/spec\.abort/.test(reason)) return "Aborted";
  if (/no longer exists/.test(reason)) return "StepRemoved";
  if (/^inconclusive/.test(reason)) return "Inconclusive";
  if (/could not run|no metrics/.test(reason)) return "AnalysisError";
  if (reason === "spec.paused") return "PausedBySpec";
  return "Failed";
}

const ANALYSIS_FAILURES = new Set([
  "VarianceExceeded",
  "MarginBelowFloor",
  "CapBreached",
  "SampleRatioMismatch",
]);

function analysisCondition(
  stored: PricingModelStatus,
  decided: PricingModelStatus,
): { status: Condition["status"]; reason: string; message: string } | undefined {
  const failure = decided.phase === "Frozen" ? decided.pauseReason : decided.rollback?.reason;
  if (failure && (decided.phase === "RolledBack" || decided.phase === "Frozen")) {
    const code = reasonCode(failure);
    if (ANALYSIS_FAILURES.has(code)) return { status: "False", reason: code, message: failure };
  }
  if (decided.phase === "Paused" && decided.pauseReason && decided.pauseReason !== "spec.paused") {
    return { status: "Unknown", reason: reasonCode(decided.pauseReason), message: decided.pauseReason };
  }
  const fresh = decided.metrics?.challenger?.observedAt;
  if (fresh && fresh !== stored.metrics?.challenger?.observedAt) {
    const m = decided.metrics!.challenger!;
    const pct = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)} %`);
    return {
      status: "True",
      reason: "Passed",
      message: `${decided.challenger}: ${m.samples} settled, variance ${pct(m.absVariancePercent)}, margin ${pct(m.marginPercent)}, ${m.capBreaches} cap breaches, SRM p = ${(decided.metrics?.srmPValue ?? 1).toPrecision(3)}`,
    };
  }
  return undefined;
}

function readyCondition(decided: PricingModelStatus): {
  status: Condition["status"];
  reason: string;
  message: string;
} {
  const phase: Phase = decided.phase ?? "Stable";
  const message = decided.message ?? phase;
  switch (phase) {
    case "RolledBack":
      return { status: "False", reason: reasonCode(decided.rollback?.reason ?? ""), message };
    case "Frozen":
      return { status: "False", reason: reasonCode(decided.pauseReason ?? ""), message };
    case "Paused":
      return { status: "False", reason: reasonCode(decided.pauseReason ?? ""), message };
    default:
      return { status: "True", reason: phase, message };
  }
}

export interface StatusInputs {
  spec: PricingModelSpec;
  stored: PricingModelStatus;
  /** decide()'s status, or the stored one when the spec has a problem. */
  decided: PricingModelStatus;
  problem: SpecProblem | undefined;
  generation: number | undefined;
  hash: string;
  /** The split row differs from what `decided` prices with: this spec hash is applied now. */
  splitChanges: boolean;
  now: Date;
}

/** The whole status the controller writes: decide()'s plus the checksums, hashes and conditions. */
export function completeStatus(inputs: StatusInputs): PricingModelStatus {
  const { spec, stored, decided, problem, generation, hash, now } = inputs;
  let conditions = [...(stored.conditions ?? [])];
  const set = (type: string, c: { status: Condition["status"]; reason: string; message: string }) => {
    conditions = setCondition(conditions, { type, ...c }, generation, now);
  };
  if (problem) {
    set(PricingConditions.SpecValid, { status: "False", ...problem });
    set(PricingConditions.Ready, {
      status: "False",
      reason: "SpecRefused",
      message: `Nothing applied from generation ${generation ?? "?"}: ${problem.message}.`,
    });
    return {
      ...stored,
      observedGeneration: generation,
      message: `Spec refused (${problem.reason}): ${problem.message}.`,
      conditions,
    };
  }
  set(PricingConditions.SpecValid, {
    status: "True",
    reason: "Valid",
    message: `${spec.versions.length} version(s), champion ${spec.aliases.champion}${spec.aliases.challenger ? `, challenger ${spec.aliases.challenger}` : ""}.`,
  });
  set(PricingConditions.Ready, readyCondition(decided));
  const analysis = analysisCondition(stored, decided);
  if (analysis) set(PricingConditions.Analysis, analysis);
  else if (!decided.challenger) conditions = conditions.filter((c) => c.type !== PricingConditions.Analysis);
  const promotedNow = decided.phase === "Promoted" && stored.phase !== "Promoted";
  return {
    ...decided,
    observedGeneration: generation,
    versionChecksums: recordChecksums(spec, stored),
    lastAppliedHash: inputs.splitChanges ? hash : (stored.lastAppliedHash ?? hash),
    lastPromotedHash: promotedNow ? hash : stored.lastPromotedHash,
    conditions: sortConditions(conditions),
  };
}

const ORDER: string[] = [PricingConditions.Ready, PricingConditions.SpecValid, PricingConditions.Analysis];
function sortConditions(conditions: Condition[]): Condition[] {
  return [...conditions].sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type));
}
