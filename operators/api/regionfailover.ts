// RegionFailover: which region is active, as on-call wants it (spec), and how far the runbook that
// gets there has come (status). One object per environment; on-call flips spec.activeRegion and
// watches the conditions. The failover controller (operators/controllers/failover/) runs the runbook.
import {
  REGION_ROLES as REGIONS,
  peerRole as otherRegion,
  type RegionRole as Region,
} from "../../app/region.ts";
import type { ResourceDefinition } from "./crd.ts";
import { bool, conditionsSchema, int, listMap, obj, str, type SchemaProps } from "./schema.ts";
import type { Condition, ObjectMeta } from "./types.ts";

// The CRD's names for the region roles (app/region.ts owns them).
export { REGIONS, otherRegion, type Region };

/**
 * Planned: the old primary is alive; writes are frozen and the replica must reach zero lag before
 * promotion (RPO 0). Unplanned: the old primary is lost; promotion does not wait for it, and the
 * replication lag at the moment of loss is what is lost (bounded by spec.maxReplicationLagSeconds).
 */
export const FAILOVER_MODES = ["Planned", "Unplanned"] as const;
export type FailoverMode = (typeof FAILOVER_MODES)[number];

/** What a failing health gate during the traffic shift does. */
export const GATE_FAILURE_ACTIONS = ["Pause", "Rollback"] as const;
export type GateFailureAction = (typeof GATE_FAILURE_ACTIONS)[number];

/** The runbook's stages, in order. Every flip walks them; a resumed controller continues at `stage`. */
export const STAGES = [
  "PreChecks",
  "FreezeWrites",
  "DrainRunners",
  "CatchUp",
  "Fence",
  "Promote",
  "RepointWriters",
  "ShiftTraffic",
  "Unfreeze",
  "ResumeRunners",
  "VerifyIntegrity",
] as const;
export type Stage = (typeof STAGES)[number];

export const PHASES = [
  /** Nothing to do: the serving region is the one spec asks for. */
  "Steady",
  "Progressing",
  /** spec.paused, or a failed health gate with onGateFailure Pause: waiting for a human. */
  "Paused",
  /** Undoing a flip that has not promoted yet (abort, or a failed gate with Rollback). */
  "RollingBack",
  "Completed",
  "Aborted",
  /** A stage timed out or a pre-check failed; nothing irreversible was done. Fix and edit spec. */
  "Failed",
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Why a flip waits for a human, as Argo Rollouts' pauseConditions: each cause is its own entry with
 * the time it began, so the controller resumes by looking at causes, never by reading its message.
 * PausedBySpec: spec.paused is true. HealthGateFailed: the target failed the health gate during the
 * traffic shift with onGateFailure Pause; it clears itself once the gate is open again.
 */
export const PAUSE_REASONS = ["PausedBySpec", "HealthGateFailed"] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

export interface PauseCondition {
  reason: PauseReason;
  /** When this cause began holding the flip. */
  startTime: string;
}

export const FailoverConditions = {
  HealthGateOpen: "HealthGateOpen",
  WritesFrozen: "WritesFrozen",
  JobsDrained: "JobsDrained",
  ReplicaCaughtUp: "ReplicaCaughtUp",
  Promoted: "Promoted",
  TrafficShifted: "TrafficShifted",
  IntegrityVerified: "IntegrityVerified",
  /** Automatic mode: whether the serving region's primary looks lost, and what was decided. */
  PrimaryLossDetected: "PrimaryLossDetected",
  /** The old primary can no longer accept writes (unplanned flips promote only after this or spec.fenceOverride). */
  OldPrimaryFenced: "OldPrimaryFenced",
  /** The old primary is a streaming replica of the serving one: a planned flip back may start. */
  FailbackReady: "FailbackReady",
  /** The read canary is published (True), or why not: Off, Held, GateTripped. */
  ReadCanaryServing: "ReadCanaryServing",
} as const;
export type FailoverConditionType = (typeof FailoverConditions)[keyof typeof FailoverConditions];

export interface HealthGate {
  /** Largest share of 5xx answers from the target region's health checks, in percent. */
  maxErrorRatePercent: number;
  /** Largest p95 latency of the target's readiness probe, in milliseconds. */
  maxP95LatencyMs: number;
  /** Healthy checks in a row needed before the next traffic step (and before starting). */
  consecutiveHealthyChecks: number;
}

/**
 * Automatic primary-loss failover, opt-in. The controller (in the secondary region) flips to it on
 * its own, Unplanned, only when at least minFailingSignals independent signals say the serving
 * region's primary is lost, continuously for confirmationSeconds (one healthy look restarts the
 * window, so a flapping primary never triggers it), and only after the old primary is fenced.
 */
export interface AutomaticFailover {
  enabled: boolean;
  /** How long the failing signals must hold, without one healthy look in between, seconds. */
  confirmationSeconds?: number;
  /** How many of the signals observed must fail together (of database, readiness, DNS check). */
  minFailingSignals?: number;
}

export const AUTOMATIC_DEFAULTS = { confirmationSeconds: 3, minFailingSignals: 2 } as const;

/** The independent signals automatic mode reads about the serving region's primary. */
export const LOSS_SIGNALS = ["database", "readiness", "dnsHealthCheck"] as const;
export type LossSignal = (typeof LOSS_SIGNALS)[number];

export interface SignalReading {
  signal: LossSignal;
  /** True: this signal says the primary is fine. */
  healthy: boolean;
  detail?: string;
}

/** What automatic mode saw and decided, on status for on-call. */
export interface AutomaticStatus {
  /** The last reading of each signal. */
  signals?: SignalReading[];
  /** Since when enough signals have failed without a healthy look in between. */
  suspectSince?: string;
  /** Looks at the primary that began a suspicion but ended healthy before confirmation. */
  suspicionsCleared?: number;
  /** When automatic mode decided the primary was lost and started the flip. */
  triggeredAt?: string;
  /** spec generation at that moment: until a human edits spec, spec.activeRegion does not flip back. */
  triggeredAtGeneration?: number;
  /** The region whose primary was lost. */
  lostRegion?: Region;
  message?: string;
}

/** The fence of the old primary, a one-shot action like promotion, with how it was done. */
export interface Fence {
  target: Region;
  requestedAt: string;
  issuedAt?: string;
  /** When the driver confirmed the old primary refuses writes; promotion waits for this. */
  completedAt?: string;
  /** How the fence was made, in the driver's words. */
  method?: string;
  /** Set when on-call's spec.fenceOverride let promotion go ahead without a confirmed fence. */
  overridden?: FenceOverrideRecord;
  /** spec generation when the fence was requested: only an override written after it counts. */
  requestedAtGeneration?: number;
}

/**
 * On-call's declaration that the old primary's region is truly unreachable (no SQL, no provider
 * API), so an unconfirmed fence may stop holding an unplanned flip. It names the region it is about,
 * so an override left in spec never waves through a flip the other way, and it counts only when
 * written after the fence was requested: the fence is always tried first.
 */
export interface FenceOverride {
  /** The region whose old primary is declared dead (the fence's target). */
  region: Region;
  /** Why, for the audit trail: an incident or ticket and what was checked. */
  reason: string;
}

/** The override as used, on status.fence, for the audit trail. */
export interface FenceOverrideRecord {
  reason: string;
  at: string;
  /** spec generation that carried the override. */
  generation?: number;
}

/** Whether a planned flip back to the old primary's region may start. */
export interface FailbackStatus {
  /** The other region's database is a streaming replica of the serving one. */
  ready: boolean;
  /** Its replication lag, seconds, when it is a replica. */
  lagSeconds?: number;
  message?: string;
}

/**
 * The read canary: `weight` percent of the serving region's canary-eligible reads (read-only
 * endpoints that tolerate replication lag) answered from the standby region's replica, while every
 * write stays on the serving database. Watched by the health gate (the standby's readiness against
 * spec.healthGate) and by its own replication lag bound; a breach sets the published weight to 0
 * until a human edits spec again (read-canary.ts).
 */
export interface ReadCanary {
  /** Percent of eligible reads on the standby replica, 0-100. */
  weight: number;
  /** Largest replication lag of the standby replica the canary may read at, seconds. */
  maxReplicationLagSeconds?: number;
}

export const READ_CANARY_DEFAULTS = { maxReplicationLagSeconds: 5 } as const;

/** Off: weight 0. Serving: the weight is published. Tripped: the gate set it to 0; edit spec to re-arm. */
export const READ_CANARY_STATES = ["Off", "Serving", "Held", "Tripped"] as const;
export type ReadCanaryState = (typeof READ_CANARY_STATES)[number];

/** What the read canary publishes and why, on status. */
export interface ReadCanaryStatus {
  state: ReadCanaryState;
  /** The weight published to the apps (0 unless Serving). */
  weight: number;
  /** Which database the canary reads: the standby region's replica. */
  region?: Region;
  /** When the gate tripped it, and the spec generation then: a later spec edit re-arms it. */
  trippedAt?: string;
  trippedAtGeneration?: number;
  /** Why it tripped, in a sentence. */
  trippedReason?: string;
  message?: string;
}

export interface RegionFailoverSpec {
  activeRegion: Region;
  mode?: FailoverMode;
  /** Percent of traffic on the new region at each step; ascending, ending at 100. */
  trafficSteps?: number[];
  /** How long each traffic step holds (with an open gate) before the next. */
  stepSeconds?: number;
  healthGate?: Partial<HealthGate>;
  onGateFailure?: GateFailureAction;
  /** The RPO: the largest replication lag a flip may start with (and, unplanned, may lose). */
  maxReplicationLagSeconds?: number;
  /** Longest writes may stay frozen before promotion; past it the flip rolls back. */
  writeFreezeTimeoutSeconds?: number;
  paused?: boolean;
  abort?: boolean;
  automatic?: AutomaticFailover;
  readCanary?: ReadCanary;
  /** Unplanned flips: promote past an unconfirmed fence of this region's old primary. */
  fenceOverride?: FenceOverride;
}

/** spec with every default filled in: what the controller actually runs. */
export type EffectiveSpec = Required<
  Omit<RegionFailoverSpec, "healthGate" | "automatic" | "readCanary" | "fenceOverride">
> & {
  healthGate: HealthGate;
  automatic: Required<AutomaticFailover>;
  fenceOverride?: FenceOverride;
};

export const DEFAULTS = {
  mode: "Planned",
  trafficSteps: [10, 50, 100],
  stepSeconds: 30,
  healthGate: { maxErrorRatePercent: 1, maxP95LatencyMs: 600, consecutiveHealthyChecks: 3 },
  onGateFailure: "Pause",
  maxReplicationLagSeconds: 300,
  writeFreezeTimeoutSeconds: 120,
  paused: false,
  abort: false,
} as const satisfies Omit<EffectiveSpec, "activeRegion" | "automatic">;

export function effectiveSpec(spec: RegionFailoverSpec): EffectiveSpec {
  return {
    activeRegion: spec.activeRegion,
    mode: spec.mode ?? DEFAULTS.mode,
    trafficSteps: spec.trafficSteps?.length ? spec.trafficSteps : [...DEFAULTS.trafficSteps],
    stepSeconds: spec.stepSeconds ?? DEFAULTS.stepSeconds,
    healthGate: { ...DEFAULTS.healthGate, ...spec.healthGate },
    onGateFailure: spec.onGateFailure ?? DEFAULTS.onGateFailure,
    maxReplicationLagSeconds: spec.maxReplicationLagSeconds ?? DEFAULTS.maxReplicationLagSeconds,
    writeFreezeTimeoutSeconds: spec.writeFreezeTimeoutSeconds ?? DEFAULTS.writeFreezeTimeoutSeconds,
    paused: spec.paused ?? false,
    abort: spec.abort ?? false,
    ...(spec.fenceOverride ? { fenceOverride: spec.fenceOverride } : {}),
    automatic: {
      enabled: spec.automatic?.enabled ?? false,
      confirmationSeconds: spec.automatic?.confirmationSeconds ?? AUTOMATIC_DEFAULTS.confirmationSeconds,
      minFailingSignals: spec.automatic?.minFailingSignals ?? AUTOMATIC_DEFAULTS.minFailingSignals,
    },
  };
}

export interface TrafficWeights {
  primary: number;
  secondary: number;
}

export interface StageTiming {
  stage: Stage;
  startedAt: string;
  finishedAt?: string;
}

/** A one-shot action: intent is recorded before acting, completion after observing it done. */
export interface OneShot {
  target: Region;
  /** Intent: written before the action is taken. */
  requestedAt: string;
  /** The driver accepted the request; it is never sent again, only observed until it completes. */
  issuedAt?: string;
  completedAt?: string;
}

export interface IntegritySnapshot {
  invoices: number;
  queueDepth: number;
  /** Percent of 5xx answers seen by the health checks around the snapshot. */
  errorRatePercent: number;
  takenAt: string;
}

export interface RegionFailoverStatus {
  observedGeneration?: number;
  phase?: Phase;
  /** The region whose database takes writes and that serves traffic when steady. */
  servingRegion?: Region;
  /** The region the flip in progress goes to. */
  targetRegion?: Region;
  mode?: FailoverMode;
  stage?: Stage;
  /** Why the flip is held; phase is Paused exactly while this list is not empty. */
  pauseConditions?: PauseCondition[];
  /** Index into spec.trafficSteps of the step being held (ShiftTraffic). */
  trafficStep?: number;
  trafficWeights?: TrafficWeights;
  stepStartedAt?: string;
  healthyChecks?: number;
  startedAt?: string;
  completedAt?: string;
  stages?: StageTiming[];
  promotion?: OneShot;
  /** The old primary's fence (every unplanned flip): promotion is requested only once it is complete or overridden. */
  fence?: Fence;
  automatic?: AutomaticStatus;
  failback?: FailbackStatus;
  readCanary?: ReadCanaryStatus;
  /** Flip start to 100 % of traffic on the new region, seconds. */
  rtoSeconds?: number;
  /** Replication lag when writes were cut over (promotion), seconds; the bound on RPO. */
  lagAtCutoverSeconds?: number;
  integrityBefore?: IntegritySnapshot;
  integrityAfter?: IntegritySnapshot;
  message?: string;
  conditions?: Condition[];
}

export interface RegionFailover {
  apiVersion: string;
  kind: "RegionFailover";
  metadata: ObjectMeta;
  spec: RegionFailoverSpec;
  status?: RegionFailoverStatus;
}

const region = (description: string) => str(description, { enum: [...REGIONS] });
const time = (description: string) => str(description, { format: "date-time" });
const seconds = (description: string, minimum: number, maximum: number) =>
  int(description, { minimum, maximum });

function weightsSchema(description: string): SchemaProps {
  return obj(description, {
    primary: int("Percent of traffic on the primary region.", { minimum: 0, maximum: 100 }),
    secondary: int("Percent of traffic on the secondary region.", { minimum: 0, maximum: 100 }),
  });
}

function integritySchema(description: string): SchemaProps {
  return obj(description, {
    invoices: int("Invoices on the serving database.", { minimum: 0 }),
    queueDepth: int("Runnable background jobs waiting.", { minimum: 0 }),
    errorRatePercent: { type: "number", description: "Percent of failed health checks.", minimum: 0 },
    takenAt: time("When the snapshot was taken."),
  });
}

export const regionFailoverDefinition: ResourceDefinition = {
  kind: "RegionFailover",
  plural: "regionfailovers",
  singular: "regionfailover",
  shortNames: ["rf"],
  scope: "Namespaced",
  description:
    "The active region of one environment. Edit spec.activeRegion to flip it; the failover controller freezes writes, drains runners, waits for the replica, promotes, shifts traffic behind a health gate and verifies integrity, reporting each stage in status.",
  spec: obj(
    "On-call's intent.",
    {
      activeRegion: region("The region that should serve: primary or secondary."),
      mode: str(
        "Planned (the old primary is alive: zero-lag cutover) or Unplanned (the old primary is lost: promote without waiting, losing at most the lag).",
        { enum: [...FAILOVER_MODES], default: DEFAULTS.mode },
      ),
      trafficSteps: {
        type: "array",
        description: "Percent of traffic on the new region at each step, ascending and ending at 100.",
        items: int("Percent of traffic on the new region.", { minimum: 1, maximum: 100 }),
        minItems: 1,
        maxItems: 10,
        default: [...DEFAULTS.trafficSteps],
        "x-kubernetes-list-type": "atomic",
        "x-kubernetes-validations": [
          {
            rule: "self[size(self) - 1] == 100",
            message: "trafficSteps must end at 100 (all traffic on the new region)",
          },
          {
            rule: "self.isSorted() && self.all(x, self.exists_one(y, y == x))",
            message: "trafficSteps must be strictly ascending, e.g. [10, 50, 100]",
          },
        ],
      },
      stepSeconds: seconds("How long each traffic step holds with an open gate.", 0, 3600),
      healthGate: obj("When the target region counts as healthy.", {
        maxErrorRatePercent: {
          type: "number",
          description: "Largest share of failed health checks, in percent.",
          minimum: 0,
          maximum: 100,
        },
        maxP95LatencyMs: int("Largest p95 latency of the target's readiness probe, ms.", {
          minimum: 1,
          maximum: 60000,
        }),
        consecutiveHealthyChecks: int("Healthy checks in a row before each step.", {
          minimum: 1,
          maximum: 100,
        }),
      }),
      onGateFailure: str("Pause (wait for a human) or Rollback (return traffic to the old region).", {
        enum: [...GATE_FAILURE_ACTIONS],
        default: DEFAULTS.onGateFailure,
      }),
      maxReplicationLagSeconds: seconds(
        "The RPO: the largest replication lag a flip may start with.",
        0,
        86400,
      ),
      writeFreezeTimeoutSeconds: seconds(
        "Longest writes may stay frozen before promotion; past it the flip rolls back.",
        1,
        3600,
      ),
      paused: bool("Hold the flip where it is (nothing is undone)."),
      abort: bool(
        "Stop the flip and return to a safe state: before promotion, back to the old region; after it, writes on the promoted database, unfrozen. Set back to false to allow the next flip.",
      ),
      automatic: obj(
        "Automatic primary-loss failover (opt-in): flip Unplanned when enough independent signals say the serving primary is lost for confirmationSeconds, after fencing it.",
        {
          enabled: bool("Let the controller flip on its own when the serving primary is lost."),
          confirmationSeconds: seconds(
            "How long the failing signals must hold without one healthy look in between.",
            1,
            600,
          ),
          minFailingSignals: int(
            "How many of the signals (database, readiness, DNS health check) must fail together.",
            {
              minimum: 1,
              maximum: LOSS_SIGNALS.length,
            },
          ),
        },
        { required: ["enabled"] },
      ),
      readCanary: obj(
        "The read canary: a share of the serving region's lag-tolerant reads answered from the standby region's replica while every write stays on the serving database. The health gate sets it to 0 on a breach; edit spec to re-arm it.",
        {
          weight: int("Percent of eligible reads on the standby replica (0 turns the canary off).", {
            minimum: 0,
            maximum: 100,
          }),
          maxReplicationLagSeconds: seconds(
            "Largest replication lag of the standby replica the canary may read at; above it the gate trips.",
            0,
            3600,
          ),
        },
        { required: ["weight"] },
      ),
      fenceOverride: obj(
        "Unplanned flips only, audited: declare the old primary's region truly unreachable so a fence that cannot be confirmed stops holding the flip. Counts only when written after the fence was requested (the fence is always tried first); recorded on status.fence.overridden and in a Warning Event. Two writable databases are possible if the old primary is in fact alive.",
        {
          region: region("The region whose old primary is declared dead: the fence's target."),
          reason: str("Why, for the audit trail: the incident or ticket and what was checked.", {
            minLength: 10,
            maxLength: 500,
          }),
        },
        { required: ["region", "reason"] },
      ),
    },
    { required: ["activeRegion"] },
  ),
  status: obj("Progress of the runbook, written by the failover controller.", {
    observedGeneration: int("metadata.generation this status is about.", { minimum: 0 }),
    phase: str("Steady, Progressing, Paused, RollingBack, Completed, Aborted or Failed.", {
      enum: [...PHASES],
    }),
    servingRegion: region("The region whose database takes writes."),
    targetRegion: region("The region the flip in progress goes to."),
    mode: str("The mode of the flip in progress.", { enum: [...FAILOVER_MODES] }),
    stage: str("The runbook stage in progress.", { enum: [...STAGES] }),
    pauseConditions: listMap(
      "Why the flip is held (phase Paused exactly while this is not empty), one entry per cause.",
      "reason",
      obj(
        "One cause holding the flip.",
        {
          reason: str(
            "PausedBySpec (spec.paused is true) or HealthGateFailed (the target failed the health gate with onGateFailure Pause).",
            { enum: [...PAUSE_REASONS] },
          ),
          startTime: time("When this cause began holding the flip."),
        },
        { required: ["reason", "startTime"] },
      ),
      { maxItems: PAUSE_REASONS.length },
    ),
    trafficStep: int("Index of the traffic step being held.", { minimum: 0 }),
    trafficWeights: weightsSchema("Traffic per region right now."),
    stepStartedAt: time("When the current traffic step began."),
    healthyChecks: int("Healthy checks in a row of the target region.", { minimum: 0 }),
    startedAt: time("When the flip started."),
    completedAt: time("When the flip completed (or was aborted)."),
    stages: listMap(
      "Start and end of each stage of the current flip.",
      "stage",
      obj(
        "One stage's timing.",
        {
          stage: str("The stage.", { enum: [...STAGES] }),
          startedAt: time("When the stage began."),
          finishedAt: time("When the stage finished."),
        },
        { required: ["stage", "startedAt"] },
      ),
      { maxItems: STAGES.length },
    ),
    promotion: obj(
      "The promotion, a one-shot action: intent is written before acting, completion after seeing it done.",
      {
        target: region("The region whose database is promoted."),
        requestedAt: time("When promotion was decided (before calling the database)."),
        issuedAt: time("When the database accepted the promotion request; it is not sent again after this."),
        completedAt: time("When the promoted database was seen accepting writes."),
      },
      { required: ["target", "requestedAt"] },
    ),
    fence: obj(
      "The old primary's fence, a one-shot action: promotion of an unplanned flip waits for its completion (or spec.fenceOverride).",
      {
        target: region("The region whose old primary is fenced."),
        requestedAt: time("When fencing was decided (before calling the driver)."),
        issuedAt: time("When the driver accepted the fence request."),
        completedAt: time("When the old primary was confirmed to refuse writes."),
        method: str("How the fence was made."),
        requestedAtGeneration: int("spec generation when the fence was requested.", { minimum: 0 }),
        overridden: obj(
          "spec.fenceOverride as used: promotion went ahead without a confirmed fence.",
          {
            reason: str("The override's reason."),
            at: time("When the override let the flip proceed."),
            generation: int("spec generation that carried the override.", { minimum: 0 }),
          },
          { required: ["reason", "at"] },
        ),
      },
      { required: ["target", "requestedAt"] },
    ),
    automatic: obj("What automatic mode saw and decided.", {
      signals: listMap(
        "The last reading of each loss signal about the serving primary.",
        "signal",
        obj(
          "One signal.",
          {
            signal: str("database, readiness or dnsHealthCheck.", { enum: [...LOSS_SIGNALS] }),
            healthy: bool("This signal says the primary is fine."),
            detail: str("What was seen."),
          },
          { required: ["signal", "healthy"] },
        ),
        { maxItems: LOSS_SIGNALS.length },
      ),
      suspectSince: time("Since when enough signals have failed without a healthy look in between."),
      suspicionsCleared: int("Suspicions that ended healthy before confirmation (a flapping primary).", {
        minimum: 0,
      }),
      triggeredAt: time("When automatic mode started a flip."),
      triggeredAtGeneration: int(
        "spec generation when it did; a later spec edit hands the region back to spec.",
        {
          minimum: 0,
        },
      ),
      lostRegion: region("The region whose primary was lost."),
      message: str("What automatic mode is doing, in a sentence."),
    }),
    failback: obj(
      "Whether a planned flip back may start.",
      {
        ready: bool("The other region's database is a streaming replica of the serving one."),
        lagSeconds: { type: "number", description: "Its replication lag, seconds.", minimum: 0 },
        message: str("What to do before flipping back."),
      },
      { required: ["ready"] },
    ),
    readCanary: obj(
      "What the read canary publishes to the apps and why.",
      {
        state: str(
          "Off (weight 0), Serving (published), Held (not published while a flip runs or the standby is not a replica) or Tripped (the gate set it to 0; edit spec to re-arm).",
          { enum: [...READ_CANARY_STATES] },
        ),
        weight: int("Percent of eligible reads published to the apps for the standby replica.", {
          minimum: 0,
          maximum: 100,
        }),
        region: region("The region whose replica the canary reads."),
        trippedAt: time("When the gate tripped the canary."),
        trippedAtGeneration: int("spec generation when it tripped; a later spec edit re-arms it.", {
          minimum: 0,
        }),
        trippedReason: str("Why the gate tripped the canary."),
        message: str("What the canary is doing, in a sentence."),
      },
      { required: ["state", "weight"] },
    ),
    rtoSeconds: {
      type: "number",
      description: "Flip start to 100 % on the new region, seconds.",
      minimum: 0,
    },
    lagAtCutoverSeconds: {
      type: "number",
      description: "Replication lag at promotion, seconds (0 for a planned flip).",
      minimum: 0,
    },
    integrityBefore: integritySchema("Invoices, queue depth and error rate before the flip."),
    integrityAfter: integritySchema("The same figures after the flip."),
    message: str("What is happening, or what a human must do, in a sentence."),
    conditions: conditionsSchema(),
  }),
  printerColumns: [
    { name: "Desired", type: "string", jsonPath: ".spec.activeRegion" },
    { name: "Serving", type: "string", jsonPath: ".status.servingRegion" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Stage", type: "string", jsonPath: ".status.stage" },
    { name: "Primary%", type: "integer", jsonPath: ".status.trafficWeights.primary" },
    { name: "Secondary%", type: "integer", jsonPath: ".status.trafficWeights.secondary" },
    { name: "RTO", type: "number", jsonPath: ".status.rtoSeconds", description: "seconds" },
    { name: "ReadCanary%", type: "integer", jsonPath: ".status.readCanary.weight" },
    { name: "Canary", type: "string", jsonPath: ".status.readCanary.state" },
    { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
  ],
};
