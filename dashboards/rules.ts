// Prometheus recording and alerting rules, generated from the SLO definitions in slo.ts and the
// operational thresholds beside them. The output is the `spec` of a PrometheusRule resource and,
// one file per group set, what `promtool check rules` validates.
import { complianceRuleGroups } from "./compliance-rules.ts";
import { pricingRuleGroups } from "./pricing-rules.ts";
import {
  BURN_RATE_POLICY,
  OPERATIONS,
  SLOS,
  burnWindows,
  errorBudget,
  errorRatio,
  errorRatioRecord,
  type BurnRateAlertPolicy,
  type ServiceLevelObjective,
} from "./slo.ts";

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string> & { severity: "page" | "ticket" };
  annotations: { summary: string; description: string; runbook_url: string };
}

export type Rule = RecordingRule | AlertingRule;

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

/** Where each alert is explained; the anchor is the alert name in lower case. */
export const RUNBOOK = "docs/runbooks/slo-alerts.md";

function runbookUrl(alert: string): string {
  return `${RUNBOOK}#${alert.toLowerCase()}`;
}

/** Prints a ratio threshold without binary floating point noise (14.4 * 0.0005 -> 0.0072). */
export function formatNumber(value: number): string {
  return String(Number(value.toPrecision(12)));
}

export function isAlertingRule(rule: Rule): rule is AlertingRule {
  return "alert" in rule;
}

/** Error ratio per burn window, plus the objective itself so dashboards can draw the budget. */
export function sloRecordingRules(slo: ServiceLevelObjective): RecordingRule[] {
  const labels = { slo: slo.id };
  const ratios = burnWindows().map((window) => ({
    record: errorRatioRecord(window),
    expr: errorRatio(slo, window),
    labels,
  }));
  return [
    ...ratios,
    { record: "slo:objective:ratio", expr: `vector(${formatNumber(slo.objective)})`, labels },
    { record: "slo:error_budget:ratio", expr: `vector(${formatNumber(errorBudget(slo))})`, labels },
  ];
}

/** The alert for one severity of the multi-window, multi-burn-rate policy. */
export function burnRateAlert(slo: ServiceLevelObjective, policy: BurnRateAlertPolicy): AlertingRule {
  const budget = errorBudget(slo);
  const selector = `{slo="${slo.id}"}`;
  const conditions = policy.pairs.map((pair) => {
    const threshold = formatNumber(pair.factor * budget);
    return (
      `(${errorRatioRecord(pair.long)}${selector} > ${threshold}` +
      ` and ${errorRatioRecord(pair.short)}${selector} > ${threshold})`
    );
  });
  const windows = policy.pairs.map((p) => `${p.factor}x over ${p.long} and ${p.short}`).join(", or ");
  const alert = `${slo.alertPrefix}${policy.suffix}`;
  return {
    alert,
    expr: conditions.join("\nor\n"),
    for: policy.for,
    labels: { severity: policy.severity, slo: slo.id },
    annotations: {
      summary: `${slo.title}: error budget burning ${policy.severity === "page" ? "fast" : "steadily"} (objective ${formatNumber(slo.objective * 100)} % over ${slo.period})`,
      description:
        `The error ratio is {{ $value | humanizePercentage }} against a budget of ${formatNumber(budget * 100)} % ` +
        `(good events: ${slo.description}); the burn rate exceeded ${windows}.`,
      runbook_url: runbookUrl(alert),
    },
  };
}

/**
 * One group per SLO: rules in a group run in order, so the alerts always read error ratios recorded
 * in the same evaluation. Across groups there is no ordering, and an alert could read a ratio one
 * interval old (stale, once the interval exceeds the 5-minute lookback).
 */
export function sloRuleGroups(slo: ServiceLevelObjective): RuleGroup[] {
  return [
    {
      name: `slo:${slo.id}`,
      rules: [...sloRecordingRules(slo), ...BURN_RATE_POLICY.map((policy) => burnRateAlert(slo, policy))],
    },
  ];
}

const DAY = 86_400;

/** Replication, queues, secrets and metering: the alerts that are not about an error budget. */
export function operationsRuleGroups(): RuleGroup[] {
  const { rpoSeconds, queueAgeSeconds, secretRotation, llmDegradedMinutes, workflowDegradedMinutes } =
    OPERATIONS;
  const serviceRole = `secret=~"${secretRotation.serviceRolePattern}"`;
  const other = `secret!~"${secretRotation.serviceRolePattern}"`;
  const deadline = "secret:rotation_deadline:timestamp_seconds";
  return [
    {
      // The deadline is recorded in the same group as the alerts that read it (ordered evaluation).
      name: "platform:secrets",
      rules: [
        {
          record: deadline,
          expr:
            `secret_last_rotated_timestamp_seconds{${serviceRole}} + ${secretRotation.serviceRoleDays * DAY}\n` +
            `or\nsecret_last_rotated_timestamp_seconds{${other}} + ${secretRotation.otherDays * DAY}`,
        },
        {
          alert: "SecretRotationDueSoon",
          expr: `(${deadline} - time()) < ${secretRotation.warnDaysBefore * DAY} and (${deadline} - time()) >= 0`,
          labels: { severity: "ticket" },
          annotations: {
            summary: `Secret {{ $labels.secret }} must be rotated within ${secretRotation.warnDaysBefore} days`,
            description: `The rotation deadline ({{ $value | humanizeDuration }} from now) follows the rotation policy: ${secretRotation.serviceRoleDays} days for the service role, ${secretRotation.otherDays} days for API keys and other secrets.`,
            runbook_url: runbookUrl("SecretRotationDueSoon"),
          },
        },
        {
          alert: "SecretRotationOverdue",
          expr: `(time() - ${deadline}) > 0`,
          labels: { severity: "ticket" },
          annotations: {
            summary: "Secret {{ $labels.secret }} is past its rotation deadline",
            description: "The deadline passed {{ $value | humanizeDuration }} ago; rotate it now.",
            runbook_url: runbookUrl("SecretRotationOverdue"),
          },
        },
        {
          // What the processes themselves report (/readyz "degraded"): the page the rotation policy asks
          // for, from the same verdict the readiness probe gives, across every replica.
          alert: "SecretRotationReadinessDegraded",
          expr: 'max by (job) (readiness_degraded{check="secret-rotation"}) > 0',
          for: "15m",
          labels: { severity: "page" },
          annotations: {
            summary: "{{ $labels.job }} reports degraded readiness: a secret it uses is due for rotation",
            description: `A secret is within ${secretRotation.warnDaysBefore} days of its rotation deadline or past it; /readyz names it under checks.secrets. The process still serves.`,
            runbook_url: runbookUrl("SecretRotationReadinessDegraded"),
          },
        },
      ],
    },
    {
      name: "platform:operations",
      rules: [
        {
          alert: "DatabaseReplicationLagAboveRpo",
          expr: `db_replication_lag_seconds > ${rpoSeconds}`,
          for: "2m",
          labels: { severity: "page" },
          annotations: {
            summary: `Database replication lag is above the ${rpoSeconds / 60}-minute RPO`,
            description:
              "The replica is {{ $value | humanizeDuration }} behind. A region failover now would lose more writes than the RPO promises.",
            runbook_url: runbookUrl("DatabaseReplicationLagAboveRpo"),
          },
        },
        {
          // The lag above, the queue ages below and the meter warnings are read from the ops
          // connection: while those reads fail, the gauges hold their last values and the alerts
          // on them cannot fire. Blind longer than the RPO is a page of its own.
          alert: "AggregateGaugesStale",
          expr: `time() - max by (job, region) (aggregate_gauges_last_success_timestamp_seconds) > ${rpoSeconds}`,
          for: "5m",
          labels: { severity: "page" },
          annotations: {
            summary:
              "{{ $labels.job }} in {{ $labels.region }} has not read its aggregate gauges for {{ $value | humanizeDuration }}",
            description:
              "Replication lag, queue ages and meter warnings hold stale values, so the alerts on them cannot fire. The app logs why (aggregate gauges not refreshed); after a flip the ops connection usually points at the new primary.",
            runbook_url: runbookUrl("AggregateGaugesStale"),
          },
        },
        {
          alert: "JobQueueOldestJobTooOld",
          expr: `max by (queue) (jobs_oldest_age_seconds) > ${queueAgeSeconds}`,
          for: "5m",
          labels: { severity: "page" },
          annotations: {
            summary: `Jobs in queue {{ $labels.queue }} wait longer than ${queueAgeSeconds / 60} minutes`,
            description:
              "The oldest runnable job has waited {{ $value | humanizeDuration }}: runners are down, stuck or under-scaled.",
            runbook_url: runbookUrl("JobQueueOldestJobTooOld"),
          },
        },
        {
          // Per runner pod: each has its own circuit. max by (region) so one page per region, not per pod.
          alert: "LlmProviderDegraded",
          expr: "max by (region) (llm_provider_degraded) > 0",
          for: `${llmDegradedMinutes}m`,
          labels: { severity: "page" },
          annotations: {
            summary: `The LLM provider has been degraded for more than ${llmDegradedMinutes} minutes`,
            description:
              "The runners' circuit to the LLM provider is open: quote explanations come from the template and email drafts wait in the queue (nothing is lost). Check the provider's status page, its rate limits and the key (freight/llm-provider-api-key).",
            runbook_url: runbookUrl("LlmProviderDegraded"),
          },
        },
        {
          // Per runner pod, per reason (credential_rejected, circuit_open); one page per region.
          alert: "WorkflowAutomationDegraded",
          expr: "max by (region) (workflow_automation_degraded) > 0",
          for: `${workflowDegradedMinutes}m`,
          labels: { severity: "page" },
          annotations: {
            summary: `Workflow automation (n8n) has been degraded for more than ${workflowDegradedMinutes} minutes`,
            description:
              "The runners cannot hand workflow events (carrier invites) to workflow automation: it rejects our key (401/403) or keeps failing. Events wait in the queue without using up their attempts (nothing is lost). Check workflow_automation_degraded's reason; for credential_rejected, rotate or fix freight/workflow-automation-api-key.",
            runbook_url: runbookUrl("WorkflowAutomationDegraded"),
          },
        },
        {
          alert: "MeterTenantsAtLimit",
          expr: `max by (meter) (meter_warning_tenants{level="100"}) > 0`,
          for: "5m",
          labels: { severity: "ticket" },
          annotations: {
            summary: "{{ $value }} tenant(s) used 100 % of their {{ $labels.meter }} allowance",
            description:
              "These tenants are in overage or denied until the period resets: a sales conversation (upgrade) or a limit increase request.",
            runbook_url: runbookUrl("MeterTenantsAtLimit"),
          },
        },
      ],
    },
    {
      // Support SLA clocks (app/support/tickets.ts, docs/sla.md): the API exports breached tickets.
      name: "platform:support",
      rules: [
        {
          alert: "SupportP1SlaBreached",
          expr: 'max by (clock) (support_tickets_sla_breached{priority="P1"}) > 0',
          labels: { severity: "page" },
          annotations: {
            summary: "{{ $value }} P1 support ticket(s) past their {{ $labels.clock }} deadline",
            description:
              "A P1 (outage) ticket has gone past its 4-hour response or 24-hour resolution deadline. `npm run tickets` lists it first.",
            runbook_url: runbookUrl("SupportP1SlaBreached"),
          },
        },
        {
          alert: "SupportTicketSlaBreached",
          expr: 'max by (priority, clock) (support_tickets_sla_breached{priority=~"P2|P3"}) > 0',
          labels: { severity: "ticket" },
          annotations: {
            summary:
              "{{ $value }} {{ $labels.priority }} support ticket(s) past their {{ $labels.clock }} deadline",
            description:
              "A P2 or P3 ticket has gone past its business-time deadline (docs/sla.md). `npm run tickets` lists it by deadline.",
            runbook_url: runbookUrl("SupportTicketSlaBreached"),
          },
        },
      ],
    },
  ];
}

/** Rule files by name, the unit promtool checks and the generator writes. */
export function ruleFiles(): Record<string, { groups: RuleGroup[] }> {
  const files: Record<string, { groups: RuleGroup[] }> = {};
  for (const slo of SLOS) files[`slo-${slo.id}.yaml`] = { groups: sloRuleGroups(slo) };
  files["operations.yaml"] = { groups: operationsRuleGroups() };
  files["compliance.yaml"] = { groups: complianceRuleGroups() };
  files["pricing.yaml"] = { groups: pricingRuleGroups() };
  return files;
}

export function allRuleGroups(): RuleGroup[] {
  return Object.values(ruleFiles()).flatMap((file) => file.groups);
}
