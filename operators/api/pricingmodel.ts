// PricingModel: versioned pricing models as one custom resource. Versions are immutable once listed
// (MLflow's model versions: the API server refuses an edit of a listed version, so what was analysed is
// what is priced); aliases (champion, challenger) move between them; a rollout walks steps of weights,
// holds and analyses (Argo Rollouts), and the pricing controller reports phase, step, weights and each
// metric's last value in status (Flagger's canary status). The app never reads this object: the
// controller publishes the active split to PostgreSQL (app/pricing/model-split.ts).
import { RATE_REGIONS } from "../../app/pricing/markets.ts";
import type { ResourceDefinition } from "./crd.ts";
import { bool, conditionsSchema, int, listMap, obj, str, type SchemaProps } from "./schema.ts";
import type { Condition, ObjectMeta } from "./types.ts";

/** Coefficients a version applies on top of the engine's market data, with the ranges accepted. */
export const COEFFICIENT_RANGES = {
  linehaulMultiplier: { minimum: 0.5, maximum: 2 },
  fuelSurchargeMultiplier: { minimum: 0.5, maximum: 2 },
  marginRate: { minimum: 0, maximum: 0.5 },
} as const;
export type Coefficients = { [K in keyof typeof COEFFICIENT_RANGES]: number };

export interface RegionalCap {
  /** Origin rate region the cap applies to. */
  region: (typeof RATE_REGIONS)[number];
  /** Highest all-in price per mile, cents: a quote above it is clamped down to it. */
  maxCentsPerMile: number;
}

export interface Guardrails {
  /** Never quote below this margin, in percent of the carrier-side cost (linehaul + fuel). */
  minMarginPercent: number;
  regionalCaps?: RegionalCap[];
}

export interface ModelVersion {
  name: string;
  coefficients: Coefficients;
  guardrails: Guardrails;
  description?: string;
}

export interface Weights {
  champion: number;
  challenger: number;
}

/** One rollout step, in this order: set the weights, hold them, then analyse; at least one of the three. */
export interface RolloutStep {
  weights?: Weights;
  holdSeconds?: number;
  analysis?: { minSamples?: number };
}

export const FAILURE_ACTIONS = ["Rollback", "Freeze"] as const;
export type FailureAction = (typeof FAILURE_ACTIONS)[number];

export interface AnalysisSpec {
  /** Settled bookings per version needed before a verdict; fewer is inconclusive (pause). */
  minSamples: number;
  /** Largest mean absolute variance of quoted vs settled, percent. */
  maxAbsVariancePercent: number;
  /** Days of settled bookings the analysis reads. */
  windowDays: number;
  /** Sample-ratio mismatch: a chi-square p-value below this means assignment is broken. */
  srmPValue: number;
  /**
   * Promote only after `npm run pricing:backtest` (the weekly CronJob) passed for the challenger's
   * exact coefficients and guardrails: without one the last step waits; a failing one fails it.
   */
  requirePassingBacktest: boolean;
  /** How old that passing backtest may be, days (the CronJob runs weekly). */
  backtestMaxAgeDays: number;
}

export interface PricingModelSpec {
  versions: ModelVersion[];
  aliases: { champion: string; challenger?: string };
  steps?: RolloutStep[];
  analysis?: Partial<AnalysisSpec>;
  /** Longest any one step may take before the rollout counts as failed. */
  stepDeadlineSeconds?: number;
  onFailure?: FailureAction;
  /** Changing it re-randomises which tenants fall in the challenger's buckets. */
  bucketVersion?: number;
  paused?: boolean;
  /** The rollback button: the challenger's weight goes to 0 at once. */
  abort?: boolean;
}

export const ANALYSIS_DEFAULTS: AnalysisSpec = {
  minSamples: 50,
  maxAbsVariancePercent: 10,
  windowDays: 28,
  srmPValue: 0.001,
  requirePassingBacktest: false,
  backtestMaxAgeDays: 8,
};
export const DEFAULT_STEPS: RolloutStep[] = [
  { weights: { champion: 90, challenger: 10 }, holdSeconds: 3600, analysis: {} },
  { weights: { champion: 50, challenger: 50 }, holdSeconds: 3600, analysis: {} },
];

export const PHASES = [
  /** Only the champion prices (no challenger, or the last rollout finished). */
  "Stable",
  "Progressing",
  /** Held: spec.paused, an inconclusive or failed-to-run analysis; resumes by itself when it clears. */
  "Paused",
  /** The challenger became champion. */
  "Promoted",
  /** The challenger failed (or abort): weight 0, reason on status. */
  "RolledBack",
  /** The challenger failed with onFailure Freeze: weights kept, waiting for a human. */
  "Frozen",
] as const;
export type Phase = (typeof PHASES)[number];

export interface MetricValues {
  samples: number;
  absVariancePercent?: number;
  marginPercent?: number;
  capBreaches: number;
  observedAt: string;
}

export interface PricingModelStatus {
  observedGeneration?: number;
  phase?: Phase;
  step?: number;
  weights?: Weights;
  champion?: string;
  challenger?: string;
  stepStartedAt?: string;
  pauseReason?: string;
  /** Intent before action: written in the same patch that sets the challenger weight to 0. */
  rollback?: { requestedAt: string; reason: string; challenger: string };
  metrics?: { champion?: MetricValues; challenger?: MetricValues; srmPValue?: number };
  /** sha256 of each listed version's content, so a report can name exactly what was priced. */
  versionChecksums?: { name: string; checksum: string }[];
  lastAppliedHash?: string;
  lastPromotedHash?: string;
  message?: string;
  conditions?: Condition[];
}

export interface PricingModel {
  apiVersion: string;
  kind: "PricingModel";
  metadata: ObjectMeta;
  spec: PricingModelSpec;
  status?: PricingModelStatus;
}

const VERSION_NAME = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
const num = (description: string, range: { minimum: number; maximum: number }): SchemaProps => ({
  type: "number",
  description,
  ...range,
});
const versionRef = (description: string) => str(description, { maxLength: 63, pattern: VERSION_NAME });
const time = (description: string) => str(description, { format: "date-time" });

function weightsSchema(description: string): SchemaProps {
  return obj(
    description,
    {
      champion: int("Percent of tenants priced by the champion.", { minimum: 0, maximum: 100 }),
      challenger: int("Percent of tenants priced by the challenger.", { minimum: 0, maximum: 100 }),
    },
    {
      required: ["champion", "challenger"],
      "x-kubernetes-validations": [
        {
          rule: "self.champion + self.challenger == 100",
          message: "weights must sum to 100 (champion + challenger)",
        },
      ],
    },
  );
}

function metricsSchema(description: string): SchemaProps {
  return obj(description, {
    samples: int("Settled bookings quoted by this version in the window.", { minimum: 0 }),
    absVariancePercent: { type: "number", description: "Mean absolute variance, quoted vs settled, %." },
    marginPercent: { type: "number", description: "Realised margin over carrier cost, %." },
    capBreaches: int("Quotes above a regional cap (should be 0: caps clamp).", { minimum: 0 }),
    observedAt: time("When the metrics were read."),
  });
}

const versionSchema = obj(
  "One immutable model version. Listed once, its content never changes: add a new version instead.",
  {
    name: versionRef("Version name, e.g. 2026-12.1."),
    description: str("What changed in this version.", { maxLength: 500 }),
    coefficients: obj(
      "Multipliers on the engine's market data.",
      {
        linehaulMultiplier: num(
          "Multiplier on the market linehaul (0.5 to 2).",
          COEFFICIENT_RANGES.linehaulMultiplier,
        ),
        fuelSurchargeMultiplier: num(
          "Multiplier on the fuel surcharge (0.5 to 2).",
          COEFFICIENT_RANGES.fuelSurchargeMultiplier,
        ),
        marginRate: num("Margin on linehaul + fuel (0 to 0.5).", COEFFICIENT_RANGES.marginRate),
      },
      { required: ["linehaulMultiplier", "fuelSurchargeMultiplier", "marginRate"] },
    ),
    guardrails: obj(
      "Enforced at quote time whatever the coefficients say.",
      {
        minMarginPercent: num("No quote below this margin, % of linehaul + fuel (0 to 50).", {
          minimum: 0,
          maximum: 50,
        }),
        regionalCaps: listMap(
          "Highest price per mile by origin region; quotes above are clamped.",
          "region",
          obj(
            "A cap for one origin region.",
            {
              region: str("Origin rate region.", { enum: [...RATE_REGIONS] }),
              maxCentsPerMile: int("Highest all-in cents per mile.", { minimum: 1, maximum: 100_000 }),
            },
            { required: ["region", "maxCentsPerMile"] },
          ),
          { maxItems: RATE_REGIONS.length },
        ),
      },
      { required: ["minMarginPercent"] },
    ),
  },
  {
    required: ["name", "coefficients", "guardrails"],
    // Items of a map list are matched by name across updates, so oldSelf is the same version before.
    "x-kubernetes-validations": [
      {
        rule: "self == oldSelf",
        messageExpression:
          "'version ' + self.name + ' is immutable once listed: add a new version (e.g. ' + self.name + '-2) and point an alias at it'",
      },
    ],
  },
);

const stepSchema = obj(
  "One rollout step: set weights, then hold holdSeconds, then run the analysis (at least one of them).",
  {
    weights: weightsSchema("Set the traffic split."),
    holdSeconds: int("Hold the current split this long.", { minimum: 0, maximum: 30 * 86_400 }),
    analysis: obj("Run the analysis; pass to continue, fail to roll back or freeze.", {
      minSamples: int("Override spec.analysis.minSamples for this step.", { minimum: 1, maximum: 1_000_000 }),
    }),
  },
  {
    "x-kubernetes-validations": [
      {
        rule: "has(self.weights) || has(self.holdSeconds) || has(self.analysis)",
        message: "each step sets at least one of weights, holdSeconds or analysis",
      },
    ],
  },
);

export const pricingModelDefinition: ResourceDefinition = {
  kind: "PricingModel",
  plural: "pricingmodels",
  singular: "pricingmodel",
  shortNames: ["pm"],
  scope: "Namespaced",
  description:
    "A pricing model's immutable versions, its champion and challenger aliases, and the rollout that moves tenants from one to the other with analysis against settled actuals. Roll back with spec.abort: true.",
  spec: obj(
    "Pricing's intent.",
    {
      versions: listMap("The model's versions, each immutable once listed.", "name", versionSchema, {
        minItems: 1,
        maxItems: 20,
      }),
      aliases: obj(
        "Which version serves as champion (everyone else) and challenger (the experiment).",
        {
          champion: versionRef("The version most tenants are priced with."),
          challenger: versionRef("The version under test; omit for no experiment."),
        },
        {
          required: ["champion"],
          "x-kubernetes-validations": [
            {
              rule: "!has(self.challenger) || self.challenger != self.champion",
              message: "the challenger must be another version than the champion",
            },
          ],
        },
      ),
      steps: {
        type: "array",
        description:
          "The rollout: weights, holds and analyses in order; after the last, the challenger is promoted.",
        items: stepSchema,
        minItems: 1,
        maxItems: 20,
        "x-kubernetes-list-type": "atomic",
      },
      analysis: obj("Success conditions of an analysis step.", {
        minSamples: int("Settled bookings per version needed for a verdict.", {
          minimum: 1,
          maximum: 1_000_000,
        }),
        maxAbsVariancePercent: num("Largest mean absolute variance vs actuals, %.", {
          minimum: 0,
          maximum: 100,
        }),
        windowDays: int("Days of settled bookings read.", { minimum: 1, maximum: 365 }),
        srmPValue: num("Sample-ratio mismatch threshold (chi-square p-value).", { minimum: 0, maximum: 0.5 }),
        requirePassingBacktest: bool("Promote only after a passing backtest of the challenger as listed."),
        backtestMaxAgeDays: int("Oldest passing backtest accepted, days.", { minimum: 1, maximum: 90 }),
      }),
      stepDeadlineSeconds: int("Longest one step may take before the rollout fails.", {
        minimum: 60,
        maximum: 90 * 86_400,
      }),
      onFailure: str("Rollback (challenger weight 0 at once) or Freeze (keep weights, wait for a human).", {
        enum: [...FAILURE_ACTIONS],
        default: "Rollback",
      }),
      bucketVersion: int("Tenant bucket salt; change it to re-randomise assignment.", {
        minimum: 1,
        maximum: 1_000_000,
        default: 1,
      }),
      paused: bool("Hold the rollout where it is."),
      abort: bool("The rollback button: the challenger's weight goes to 0 at once."),
    },
    {
      required: ["versions", "aliases"],
      "x-kubernetes-validations": [
        {
          rule: "self.versions.exists(v, v.name == self.aliases.champion)",
          messageExpression:
            "'alias champion points at ' + self.aliases.champion + ', which is not in versions'",
        },
        {
          rule: "!has(self.aliases.challenger) || self.versions.exists(v, v.name == self.aliases.challenger)",
          messageExpression:
            "'alias challenger points at ' + self.aliases.challenger + ', which is not in versions'",
        },
      ],
    },
  ),
  status: obj("The rollout's progress, written by the pricing controller.", {
    observedGeneration: int("metadata.generation this status is about.", { minimum: 0 }),
    phase: str("Stable, Progressing, Paused, Promoted, RolledBack or Frozen.", { enum: [...PHASES] }),
    step: int("Index of the step in progress.", { minimum: 0 }),
    weights: weightsSchema("The split the app prices with now."),
    champion: versionRef("The champion version the split refers to."),
    challenger: versionRef("The challenger version the split refers to."),
    stepStartedAt: time("When the current step began."),
    pauseReason: str("Why the rollout is held, in a sentence."),
    rollback: obj(
      "The rollback, recorded in the same write that set the challenger's weight to 0.",
      {
        requestedAt: time("When the rollback was decided."),
        reason: str("Which condition failed, with the value."),
        challenger: versionRef("The version rolled back."),
      },
      { required: ["requestedAt", "reason", "challenger"] },
    ),
    metrics: obj("Each metric's last value per version.", {
      champion: metricsSchema("The champion's metrics."),
      challenger: metricsSchema("The challenger's metrics."),
      srmPValue: { type: "number", description: "Chi-square p-value of quotes per version vs the weights." },
    }),
    versionChecksums: listMap(
      "sha256 of each version's content.",
      "name",
      obj(
        "One version's checksum.",
        { name: versionRef("The version."), checksum: str("sha256, hex.") },
        {
          required: ["name", "checksum"],
        },
      ),
      { maxItems: 20 },
    ),
    lastAppliedHash: str("Spec hash of the last split published to the app."),
    lastPromotedHash: str("Spec hash when the last challenger was promoted."),
    message: str("What is happening, in a sentence."),
    conditions: conditionsSchema(),
  }),
  printerColumns: [
    { name: "Champion", type: "string", jsonPath: ".status.champion" },
    { name: "Challenger", type: "string", jsonPath: ".status.challenger" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Step", type: "integer", jsonPath: ".status.step" },
    { name: "Champion%", type: "integer", jsonPath: ".status.weights.champion" },
    { name: "Challenger%", type: "integer", jsonPath: ".status.weights.challenger" },
    { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
  ],
};
