// Alerts on pricing models, from the pricing controller's gauges (operators/controllers/pricing/
// gauges.ts): a version in force whose quotes drift from settled actuals beyond the plan's +-10 %,
// and an experiment that is held or failed and needs a human. Only the leading operators replica
// reconciles, so only it exports the gauges; max by keeps one alert per model or version anyway.
import { ANALYSIS_DEFAULTS } from "../operators/api/pricingmodel.ts";
import { RUNBOOK, type RuleGroup } from "./rules.ts";

const runbookUrl = (alert: string) => `${RUNBOOK}#${alert.toLowerCase()}`;

/** The plan's bound on quoted vs actual rates, the analysis' default success condition. */
export const PRICING_VARIANCE_BOUND_PERCENT = ANALYSIS_DEFAULTS.maxAbsVariancePercent;

export function pricingRuleGroups(): RuleGroup[] {
  return [
    {
      name: "platform:pricing",
      rules: [
        {
          alert: "PricingVarianceBeyondBound",
          expr: `max by (model, version, alias) (pricing_version_abs_variance_percent) > ${PRICING_VARIANCE_BOUND_PERCENT}`,
          for: "30m",
          labels: { severity: "ticket" },
          annotations: {
            summary: `Pricing version {{ $labels.version }} ({{ $labels.alias }} of {{ $labels.model }}) is {{ $value }} % off settled actuals`,
            description: `Mean absolute variance of quoted vs invoiced rates over the analysis window is beyond the ${PRICING_VARIANCE_BOUND_PERCENT} % bound. A challenger in an analysis step is rolled back by the controller; a champion needs a new version, run as an experiment (docs/runbooks/pricing-experiments.md).`,
            runbook_url: runbookUrl("PricingVarianceBeyondBound"),
          },
        },
        {
          alert: "PricingExperimentPaused",
          expr: 'max by (model) (pricing_model_phase{phase="Paused"}) > 0',
          for: "1h",
          labels: { severity: "ticket" },
          annotations: {
            summary: "The pricing experiment of {{ $labels.model }} has been paused for an hour",
            description:
              "Read status.pauseReason (`kubectl -n freight-system get pm {{ $labels.model }} -o wide`): too few settled bookings wait for invoices, `analysis could not run` means the operators cannot read PostgreSQL, spec.paused was set by hand. The step's deadline keeps running.",
            runbook_url: runbookUrl("PricingExperimentPaused"),
          },
        },
        {
          alert: "PricingExperimentFailed",
          expr: 'max by (model, phase) (pricing_model_phase{phase=~"RolledBack|Frozen"}) > 0',
          for: "5m",
          labels: { severity: "ticket" },
          annotations: {
            summary: "The pricing experiment of {{ $labels.model }} is {{ $labels.phase }}",
            description:
              "The challenger failed its analysis, passed a step's deadline or was aborted: status.rollback.reason (or status.pauseReason when Frozen) and the Analysis condition say which, with the value. End the experiment by dropping the challenger alias.",
            runbook_url: runbookUrl("PricingExperimentFailed"),
          },
        },
      ],
    },
  ];
}
