// The pricing rollout's decision: a pure function of the PricingModel's spec, its status and what was
// observed (settled-actuals metrics per version, the time). The reconciler gathers, calls decide and
// writes the status it returns; the split the app prices with follows from that status alone
// (splitOf), so a controller killed between any two writes decides the same thing again on restart and
// repeats no transition: every transition is keyed on status (the experiment's versions, step and
// stepStartedAt), never on which event fired. No data is never a verdict: too few samples or a
// failed metrics read pauses, and only a measured failure rolls back (or freezes).
import {
  ANALYSIS_DEFAULTS,
  DEFAULT_STEPS,
  type AnalysisSpec,
  type MetricValues,
  type ModelVersion,
  type PricingModelSpec,
  type PricingModelStatus,
  type Weights,
} from "../../api/pricingmodel.ts";

/** A step may run this long by default before the rollout counts as failed (two days). */
export const DEFAULT_STEP_DEADLINE_SECONDS = 2 * 86_400;

export interface VersionObservation extends Omit<MetricValues, "observedAt"> {
  /** Quotes priced by the version in the window: the sample-ratio check compares them with the weights. */
  quotes: number;
}

/** The challenger's latest stored backtest (app/pricing/backtest.ts), as the promotion gate reads it. */
export interface BacktestObservation {
  passed: boolean;
  /** It replayed the challenger as listed now, not an earlier spec of the same name. */
  sameVersion: boolean;
  ranAt: Date;
  failures: string[];
}

/** Read only when the spec requires a passing backtest: none stored (null) or a failed read (error). */
type BacktestObserved = { backtest?: BacktestObservation | null; backtestError?: string };

export type Observed = (
  | { now: Date; metrics: { champion: VersionObservation; challenger: VersionObservation } }
  | { now: Date; metricsError: string }
  | { now: Date }
) &
  BacktestObserved;

const ALL_CHAMPION: Weights = { champion: 100, challenger: 0 };

/** The split the app prices with, from status alone (what the controller publishes to PostgreSQL). */
export function splitOf(
  status: PricingModelStatus,
): { champion: string; challenger?: string; weights: Weights } | undefined {
  if (!status.champion) return undefined;
  const weights = status.weights ?? ALL_CHAMPION;
  return status.challenger && weights.challenger > 0
    ? { champion: status.champion, challenger: status.challenger, weights }
    : { champion: status.champion, weights: ALL_CHAMPION };
}

/**
 * Chi-square goodness of fit (one degree of freedom) of the quotes each version priced against the
 * weights; the p-value is erfc(sqrt(chi2 / 2)). A tiny p means assignment is broken, not pricing.
 */
export function sampleRatioPValue(
  quotes: { champion: number; challenger: number },
  weights: Weights,
): number {
  const total = quotes.champion + quotes.challenger;
  if (total === 0 || weights.challenger === 0 || weights.champion === 0) return 1;
  const expected = [(total * weights.champion) / 100, (total * weights.challenger) / 100];
  const chi2 = [quotes.champion, quotes.challenger].reduce(
    (sum, seen, i) => sum + (seen - expected[i]!) ** 2 / expected[i]!,
    0,
  );
  return erfc(Math.sqrt(chi2 / 2));
}

/** Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + z / 2);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Why an analysis failed, or undefined when every success condition holds. */
export function analysisFailure(
  analysis: AnalysisSpec,
  challenger: ModelVersion,
  metrics: { champion: VersionObservation; challenger: VersionObservation },
  srmPValue: number,
): string | undefined {
  const m = metrics.challenger;
  if (m.absVariancePercent !== undefined && m.absVariancePercent > analysis.maxAbsVariancePercent) {
    return `${challenger.name}: absolute variance vs actuals ${m.absVariancePercent.toFixed(2)} % > ${analysis.maxAbsVariancePercent} %`;
  }
  if (m.marginPercent !== undefined && m.marginPercent < challenger.guardrails.minMarginPercent) {
    return `${challenger.name}: realised margin ${m.marginPercent.toFixed(2)} % < floor ${challenger.guardrails.minMarginPercent} %`;
  }
  if (m.capBreaches > 0)
    return `${challenger.name}: ${m.capBreaches} quotes above a regional cap (expected 0)`;
  if (srmPValue < analysis.srmPValue) {
    return `sample-ratio mismatch: p = ${srmPValue.toExponential(2)} < ${analysis.srmPValue} (quotes ${metrics.champion.quotes}:${metrics.challenger.quotes})`;
  }
  return undefined;
}

/** The status the PricingModel should have now. Returns `status` itself when nothing changes. */
export function decide(
  spec: PricingModelSpec,
  status: PricingModelStatus,
  observed: Observed,
  generation = 0,
): PricingModelStatus {
  const now = observed.now.toISOString();
  const champion = spec.aliases.champion;
  const challenger = spec.aliases.challenger;
  const steps = spec.steps?.length ? spec.steps : DEFAULT_STEPS;
  const analysis: AnalysisSpec = { ...ANALYSIS_DEFAULTS, ...spec.analysis };
  const deadlineSeconds = spec.stepDeadlineSeconds ?? DEFAULT_STEP_DEADLINE_SECONDS;
  const base = { ...status, observedGeneration: generation };

  if (!challenger) {
    if (status.phase === "Stable" && status.champion === champion) return status;
    return {
      ...base,
      phase: "Stable",
      champion,
      challenger: undefined,
      step: undefined,
      weights: ALL_CHAMPION,
      message: `All tenants priced with ${champion}.`,
    };
  }

  // A new experiment (another champion or challenger than status describes) starts at step 0.
  if (status.champion !== champion || status.challenger !== challenger) {
    const first = steps[0]!;
    return {
      ...base,
      phase: "Progressing",
      champion,
      challenger,
      step: 0,
      stepStartedAt: now,
      weights: first.weights ?? ALL_CHAMPION,
      pauseReason: undefined,
      rollback: undefined,
      message: `Started: ${challenger} at ${(first.weights ?? ALL_CHAMPION).challenger} %.`,
    };
  }

  // Finished experiments stay finished until the aliases move (or abort clears on a new one).
  if (status.phase === "RolledBack" || status.phase === "Promoted") return status;

  const failed = (reason: string): PricingModelStatus =>
    spec.onFailure === "Freeze"
      ? {
          ...base,
          phase: "Frozen",
          pauseReason: reason,
          message: `Frozen at ${status.weights?.challenger ?? 0} %: ${reason}. Roll back with spec.abort: true, or move the aliases.`,
        }
      : {
          ...base,
          phase: "RolledBack",
          weights: ALL_CHAMPION,
          rollback: { requestedAt: now, reason, challenger },
          pauseReason: undefined,
          message: `Rolled back ${challenger}: ${reason}.`,
        };

  if (spec.abort) return failed("spec.abort (the rollback button)");
  if (status.phase === "Frozen") return status;
  if (spec.paused) {
    if (status.phase === "Paused" && status.pauseReason === "spec.paused") return status;
    return {
      ...base,
      phase: "Paused",
      pauseReason: "spec.paused",
      message: "Paused by spec.paused; set it to false to continue.",
    };
  }

  const index = status.step ?? 0;
  const step = steps[index];
  if (!step) return failed(`step ${index} no longer exists in spec.steps`);
  const startedAt = Date.parse(status.stepStartedAt ?? now);
  const elapsedSeconds = (observed.now.getTime() - startedAt) / 1000;
  if (elapsedSeconds > deadlineSeconds) {
    return failed(
      `step ${index} ran ${Math.round(elapsedSeconds)} s, past its ${deadlineSeconds} s deadline`,
    );
  }
  const progressing = (message: string, pauseReason?: string): PricingModelStatus => {
    const phase = pauseReason ? "Paused" : "Progressing";
    if (status.phase === phase && status.pauseReason === pauseReason && status.message === message)
      return status;
    return { ...base, phase, pauseReason, message };
  };
  if (elapsedSeconds < (step.holdSeconds ?? 0)) {
    return progressing(`Holding ${challenger} at ${status.weights?.challenger ?? 0} % (step ${index}).`);
  }

  let withMetrics = base;
  if (step.analysis) {
    if ("metricsError" in observed) {
      return progressing("Analysis paused.", `analysis could not run: ${observed.metricsError}`);
    }
    if (!("metrics" in observed)) return progressing("Waiting for metrics.", "analysis has no metrics yet");
    const { metrics } = observed;
    const minSamples = step.analysis.minSamples ?? analysis.minSamples;
    const srmPValue = sampleRatioPValue(
      { champion: metrics.champion.quotes, challenger: metrics.challenger.quotes },
      status.weights ?? ALL_CHAMPION,
    );
    const record = (m: VersionObservation): MetricValues => ({
      samples: m.samples,
      absVariancePercent: m.absVariancePercent,
      marginPercent: m.marginPercent,
      capBreaches: m.capBreaches,
      observedAt: now,
    });
    withMetrics = {
      ...base,
      metrics: { champion: record(metrics.champion), challenger: record(metrics.challenger), srmPValue },
    };
    if (metrics.challenger.samples < minSamples || metrics.champion.samples < minSamples) {
      const reason = `inconclusive: ${metrics.challenger.samples} (challenger) and ${metrics.champion.samples} (champion) settled bookings of ${minSamples} needed`;
      if (status.phase === "Paused" && status.pauseReason === reason) return status;
      return { ...withMetrics, phase: "Paused", pauseReason: reason, message: `Analysis ${reason}.` };
    }
    const version = spec.versions.find((v) => v.name === challenger)!;
    const failure = analysisFailure(analysis, version, metrics, srmPValue);
    if (failure) return { ...failed(failure), metrics: withMetrics.metrics };
  }

  const next = steps[index + 1];
  if (!next) {
    if (analysis.requirePassingBacktest) {
      const gate = backtestGate(observed, challenger, analysis.backtestMaxAgeDays);
      if (gate?.failed) return { ...failed(gate.failed), metrics: withMetrics.metrics };
      if (gate?.wait) {
        if (status.phase === "Paused" && status.pauseReason === gate.wait) return status;
        return {
          ...withMetrics,
          phase: "Paused",
          pauseReason: gate.wait,
          message: `Promotion ${gate.wait}.`,
        };
      }
    }
    return {
      ...withMetrics,
      phase: "Promoted",
      weights: { champion: 0, challenger: 100 },
      pauseReason: undefined,
      message: `Promoted ${challenger}: every step passed. Point alias champion at it and drop the challenger.`,
    };
  }
  const weights = next.weights ?? status.weights ?? ALL_CHAMPION;
  return {
    ...withMetrics,
    phase: "Progressing",
    step: index + 1,
    stepStartedAt: now,
    weights,
    pauseReason: undefined,
    message: `Step ${index + 1}: ${challenger} at ${weights.challenger} %.`,
  };
}

/**
 * Whether the challenger's backtest lets it be promoted: nothing to say when it passed recently for
 * the version as listed; `wait` when there is no such backtest yet (no data is never a verdict);
 * `failed` when the latest backtest of exactly this version failed its guardrails.
 */
function backtestGate(
  observed: Observed,
  challenger: string,
  maxAgeDays: number,
): { wait?: string; failed?: string } | undefined {
  const run = `npm run pricing:backtest -- --model <model> --version ${challenger}`;
  if (observed.backtestError)
    return { wait: `waits: the backtest of ${challenger} could not be read: ${observed.backtestError}` };
  const backtest = observed.backtest;
  if (!backtest)
    return { wait: `waits for a passing backtest of ${challenger} (${run}, or the weekly CronJob)` };
  if (!backtest.sameVersion)
    return { wait: `waits: the latest backtest of ${challenger} replayed an earlier spec of it; run ${run}` };
  const ageDays = (observed.now.getTime() - backtest.ranAt.getTime()) / 86_400_000;
  if (ageDays > maxAgeDays)
    return {
      wait: `waits: the latest backtest of ${challenger} is ${ageDays.toFixed(1)} days old (at most ${maxAgeDays}); run ${run}`,
    };
  if (!backtest.passed)
    return { failed: `backtest of ${challenger} failed: ${backtest.failures.join("; ")}` };
  return undefined;
}
