// Unit tests for the generated alerts in promtool's format (`promtool test rules`): synthetic
// series in, expected alerts out, with at least one firing and one quiet case for every alert.
// Cases are built from the SLO definitions, so a changed objective moves the test traffic with it.
import { allRuleGroups, isAlertingRule } from "./rules.ts";
import { BURN_RATE_POLICY, OPERATIONS, SLOS, errorBudget, type ServiceLevelObjective } from "./slo.ts";

export interface InputSeries {
  series: string;
  values: string;
}

export interface AlertExpectation {
  eval_time: string;
  alertname: string;
  /** Empty: the alert must not be firing at eval_time. */
  exp_alerts: { exp_labels: Record<string, string>; exp_annotations: Record<string, string> }[];
}

export interface PromtoolTestCase {
  name: string;
  interval: string;
  input_series: InputSeries[];
  alert_rule_test: AlertExpectation[];
}

export interface PromtoolTestFile {
  /** File name the suite is written to. */
  name: string;
  evaluation_interval: string;
  tests: PromtoolTestCase[];
}

/** Events per sample interval in the synthetic traffic; large, so small ratios stay smooth. */
const EVENTS_PER_STEP = 10_000;

/** A counter whose per-step increase follows `phases` (events per step, for `steps` samples). */
export function counterValues(phases: { perStep: number; steps: number }[]): string {
  const values: number[] = [0];
  let total = 0;
  for (const phase of phases) {
    for (let i = 0; i < phase.steps; i++) {
      total += phase.perStep;
      values.push(Number(total.toFixed(6)));
    }
  }
  return values.join(" ");
}

interface TrafficPhase {
  /** Bad-event ratio as a multiple of the error budget (the burn rate). */
  burn: number;
  steps: number;
}

/**
 * The raw series an SLO's SLI is computed from, with the bad-event ratio of each phase set to
 * `burn` x the error budget. Each SLO includes a series its SLI must ignore, so the tests also
 * prove the selectors (4xx answers, retries, other routes).
 */
export function sloTraffic(slo: ServiceLevelObjective, phases: TrafficPhase[]): InputSeries[] {
  const budget = errorBudget(slo);
  const bad = phases.map((p) => ({ perStep: EVENTS_PER_STEP * p.burn * budget, steps: p.steps }));
  const good = phases.map((p) => ({ perStep: EVENTS_PER_STEP * (1 - p.burn * budget), steps: p.steps }));
  const all = phases.map((p) => ({ perStep: EVENTS_PER_STEP, steps: p.steps }));
  const lots = phases.map((p) => ({ perStep: EVENTS_PER_STEP * 0.25, steps: p.steps }));
  switch (slo.id) {
    case "api-availability": {
      const quotes = 'route="/v1/quotes", method="POST"';
      // Good events are split between 2xx and 4xx answers; the total per step stays EVENTS_PER_STEP.
      const ok = phases.map((p) => ({ perStep: EVENTS_PER_STEP * (0.75 - p.burn * budget), steps: p.steps }));
      return [
        {
          series: `http_request_duration_seconds_count{${quotes}, status_class="2xx"}`,
          values: counterValues(ok),
        },
        {
          series: `http_request_duration_seconds_count{${quotes}, status_class="5xx"}`,
          values: counterValues(bad),
        },
        // Caller mistakes: not the platform's fault, good events for availability.
        {
          series: `http_request_duration_seconds_count{${quotes}, status_class="4xx"}`,
          values: counterValues(lots),
        },
        // Probes are not API traffic, even when they fail.
        {
          series: 'http_request_duration_seconds_count{route="/healthz", method="GET", status_class="5xx"}',
          values: counterValues(lots),
        },
      ];
    }
    case "agent-task-success":
      return [
        {
          series: 'agent_tasks_finished_total{kind="notify_ops", status="success"}',
          values: counterValues(good),
        },
        {
          series: 'agent_tasks_finished_total{kind="notify_ops", status="failed"}',
          values: counterValues(bad),
        },
        // Retries are attempts, not outcomes.
        {
          series: 'agent_tasks_finished_total{kind="notify_ops", status="retrying"}',
          values: counterValues(lots),
        },
      ];
    case "quote-latency": {
      const quotes = 'route="/v1/quotes", method="POST", status_class="2xx"';
      return [
        { series: `http_request_duration_seconds_count{${quotes}}`, values: counterValues(all) },
        { series: `http_request_duration_seconds_bucket{${quotes}, le="0.6"}`, values: counterValues(good) },
        { series: `http_request_duration_seconds_bucket{${quotes}, le="+Inf"}`, values: counterValues(all) },
        // Slow answers to bad input do not count against quote latency.
        {
          series:
            'http_request_duration_seconds_count{route="/v1/quotes", method="POST", status_class="4xx"}',
          values: counterValues(lots),
        },
      ];
    }
    default:
      throw new Error(
        `No synthetic traffic for SLO "${slo.id}": add its raw series to sloTraffic() in rule-tests.ts.`,
      );
  }
}

function burnAlert(slo: ServiceLevelObjective, severity: "page" | "ticket"): string {
  const policy = BURN_RATE_POLICY.find((p) => p.severity === severity);
  if (!policy) throw new Error(`No burn-rate policy with severity ${severity}`);
  return `${slo.alertPrefix}${policy.suffix}`;
}

/**
 * The annotations an alert must carry, rendered from the generated rule's templates with the
 * labels and the text `{{ $value }}` is expected to print as, so the tests also prove what on-call reads.
 */
export function expectedAnnotations(
  alertname: string,
  labels: Record<string, string>,
  valueText: string,
): Record<string, string> {
  const rule = allRuleGroups()
    .flatMap((g) => g.rules)
    .find((r) => isAlertingRule(r) && r.alert === alertname);
  if (!rule || !isAlertingRule(rule)) throw new Error(`No alerting rule named ${alertname}`);
  const render = (template: string) =>
    template
      .replace(/\{\{ \$value( \| humanize\w*)? \}\}/g, valueText)
      .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, name: string) => labels[name] ?? "");
  return Object.fromEntries(
    Object.entries(rule.annotations).map(([key, template]) => [key, render(template)]),
  );
}

function firing(
  alertname: string,
  eval_time: string,
  exp_labels: Record<string, string>,
  valueText: string,
): AlertExpectation {
  return {
    eval_time,
    alertname,
    exp_alerts: [{ exp_labels, exp_annotations: expectedAnnotations(alertname, exp_labels, valueText) }],
  };
}

/** How promtool's humanizePercentage prints a burn of `burn` x the SLO's budget (%.4g). */
function burnPercent(slo: ServiceLevelObjective, burn: number): string {
  return `${Number((burn * errorBudget(slo) * 100).toPrecision(4))}%`;
}

function quiet(alertname: string, eval_time: string): AlertExpectation {
  return { eval_time, alertname, exp_alerts: [] };
}

/** Page alerts: one-minute samples, evaluated every minute. */
function pageCases(slo: ServiceLevelObjective): PromtoolTestCase[] {
  const page = burnAlert(slo, "page");
  const labels = { severity: "page", slo: slo.id };
  return [
    {
      // After six clean hours the 6h window stays below 6x, so only the 1h and 5m pair can page.
      name: `${slo.id}: a sudden 16x burn pages once it fills the hour (14.4x over 1h and 5m)`,
      interval: "1m",
      input_series: sloTraffic(slo, [
        { burn: 0, steps: 360 },
        { burn: 16, steps: 75 },
      ]),
      alert_rule_test: [quiet(page, "6h30m"), firing(page, "7h12m", labels, burnPercent(slo, 16))],
    },
    {
      name: `${slo.id}: a 16x burn from the start pages within minutes`,
      interval: "1m",
      input_series: sloTraffic(slo, [{ burn: 16, steps: 15 }]),
      alert_rule_test: [quiet(page, "1m"), firing(page, "10m", labels, burnPercent(slo, 16))],
    },
    {
      name: `${slo.id}: an 8x burn pages through the 6h and 30m pair`,
      interval: "1m",
      input_series: sloTraffic(slo, [{ burn: 8, steps: 60 }]),
      alert_rule_test: [firing(page, "40m", labels, burnPercent(slo, 8))],
    },
    {
      name: `${slo.id}: a 4x burn does not page`,
      interval: "1m",
      input_series: sloTraffic(slo, [{ burn: 4, steps: 120 }]),
      alert_rule_test: [quiet(page, "30m"), quiet(page, "2h")],
    },
    {
      name: `${slo.id}: the page resolves once the short windows are clean again`,
      interval: "1m",
      input_series: sloTraffic(slo, [
        { burn: 16, steps: 60 },
        { burn: 0, steps: 50 },
      ]),
      // At 100m the 1h and 6h windows still burn above threshold; the 5m and 30m windows do not.
      alert_rule_test: [firing(page, "30m", labels, burnPercent(slo, 16)), quiet(page, "100m")],
    },
  ];
}

/** Ticket alerts: half-hour samples over days, evaluated every half hour (the shortest ticket window is 2 h). */
const TICKET_STEPS_PER_HOUR = 2;

function ticketCases(slo: ServiceLevelObjective): PromtoolTestCase[] {
  const hours = (n: number) => n * TICKET_STEPS_PER_HOUR;
  const ticket = burnAlert(slo, "ticket");
  const labels = { severity: "ticket", slo: slo.id };
  return [
    {
      name: `${slo.id}: a 4x burn for a day opens a ticket (3x over 1d and 2h)`,
      interval: "30m",
      input_series: sloTraffic(slo, [{ burn: 4, steps: hours(26) }]),
      alert_rule_test: [firing(ticket, "1d", labels, burnPercent(slo, 4))],
    },
    {
      name: `${slo.id}: a steady 1.5x burn opens a ticket (1x over 3d and 6h)`,
      interval: "30m",
      input_series: sloTraffic(slo, [{ burn: 1.5, steps: hours(13) }]),
      alert_rule_test: [firing(ticket, "12h", labels, burnPercent(slo, 1.5))],
    },
    {
      name: `${slo.id}: a 0.5x burn for three days stays within budget`,
      interval: "30m",
      input_series: sloTraffic(slo, [{ burn: 0.5, steps: hours(73) }]),
      alert_rule_test: [quiet(ticket, "1d"), quiet(ticket, "3d")],
    },
    {
      name: `${slo.id}: a 1.5x burn that stopped six hours ago no longer tickets`,
      interval: "30m",
      input_series: sloTraffic(slo, [
        { burn: 1.5, steps: hours(12) },
        { burn: 0, steps: hours(7) },
      ]),
      alert_rule_test: [firing(ticket, "12h", labels, burnPercent(slo, 1.5)), quiet(ticket, "18h30m")],
    },
  ];
}

const APP = { instance: "app-0:8080", job: "freight-app" };
const series = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries({ ...APP, ...labels })
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ")}}`;

function operationsCases(): PromtoolTestCase[] {
  const { rpoSeconds, queueAgeSeconds, llmDegradedMinutes, workflowDegradedMinutes } = OPERATIONS;
  const pageLabels = { severity: "page", job: APP.job };
  const runner = (pod: string, region: string) =>
    series("llm_provider_degraded", { instance: `${pod}:8080`, job: "freight-runner", region });
  return [
    {
      name: "a process degraded by a secret near its rotation deadline for 15 minutes pages, once per job",
      interval: "1m",
      input_series: [
        // Two replicas: one flips to degraded at minute 5 and stays; the other only for minutes 30-39.
        { series: series("readiness_degraded", { check: "secret-rotation" }), values: "0x4 1x60" },
        {
          series: `readiness_degraded{check="secret-rotation", instance="app-1:8080", job="${APP.job}"}`,
          values: "0x4 0x25 1x9 0x30",
        },
        { series: series("readiness_degraded", { check: "database" }), values: "1x65" },
      ],
      alert_rule_test: [
        quiet("SecretRotationReadinessDegraded", "15m"),
        firing("SecretRotationReadinessDegraded", "21m", pageLabels, "1"),
        firing("SecretRotationReadinessDegraded", "60m", pageLabels, "1"),
      ],
    },
    {
      name: "an LLM provider degraded for longer than the limit pages once per region",
      interval: "1m",
      input_series: [
        { series: runner("runner-a", "us-east-1"), values: `0x2 1x${llmDegradedMinutes + 10}` },
        { series: runner("runner-b", "us-east-1"), values: `0x4 1x${llmDegradedMinutes + 10}` },
        { series: runner("runner-c", "us-west-2"), values: `0x${llmDegradedMinutes + 12}` },
      ],
      alert_rule_test: [
        quiet("LlmProviderDegraded", `${llmDegradedMinutes}m`),
        firing(
          "LlmProviderDegraded",
          `${llmDegradedMinutes + 5}m`,
          { severity: "page", region: "us-east-1" },
          "1",
        ),
      ],
    },
    {
      name: "a short LLM outage (the circuit closes again) does not page",
      interval: "1m",
      input_series: [
        {
          series: runner("runner-a", "us-east-1"),
          values: `0x2 1x${llmDegradedMinutes - 2} 0x5 1x${llmDegradedMinutes - 2} 0x10`,
        },
      ],
      alert_rule_test: [quiet("LlmProviderDegraded", `${2 * llmDegradedMinutes + 10}m`)],
    },
    {
      name: "workflow automation rejecting our key for longer than the limit pages once per region",
      interval: "1m",
      input_series: [
        {
          series: `workflow_automation_degraded{reason="credential_rejected", instance="runner-a:8080", job="freight-runner", region="us-east-1"}`,
          values: `0x2 1x${workflowDegradedMinutes + 10}`,
        },
        {
          series: `workflow_automation_degraded{reason="circuit_open", instance="runner-a:8080", job="freight-runner", region="us-east-1"}`,
          values: `0x4 1x${workflowDegradedMinutes + 10}`,
        },
        {
          series: `workflow_automation_degraded{reason="credential_rejected", instance="runner-c:8080", job="freight-runner", region="us-west-2"}`,
          values: `0x2 1x${workflowDegradedMinutes - 3} 0x15`,
        },
      ],
      alert_rule_test: [
        quiet("WorkflowAutomationDegraded", `${workflowDegradedMinutes}m`),
        firing(
          "WorkflowAutomationDegraded",
          `${workflowDegradedMinutes + 5}m`,
          { severity: "page", region: "us-east-1" },
          "1",
        ),
      ],
    },
    {
      name: "replication lag above the RPO for two minutes pages",
      interval: "1m",
      input_series: [{ series: series("db_replication_lag_seconds", {}), values: `0+${rpoSeconds / 10}x20` }],
      alert_rule_test: [
        quiet("DatabaseReplicationLagAboveRpo", "10m"),
        firing("DatabaseReplicationLagAboveRpo", "15m", { severity: "page", ...APP }, "7m 30s"),
      ],
    },
    {
      name: "aggregate gauges not read for longer than the RPO page, per region",
      interval: "1m",
      input_series: [
        // us-east-1 stamps every minute, then its ops reads fail from minute 10 (the stamp stands still).
        {
          series: series("aggregate_gauges_last_success_timestamp_seconds", { region: "us-east-1" }),
          values: "0+60x10 600x30",
        },
        // us-west-2 keeps reading.
        {
          series: series("aggregate_gauges_last_success_timestamp_seconds", {
            instance: "app-1:8080",
            region: "us-west-2",
          }),
          values: "0+60x40",
        },
      ],
      alert_rule_test: [
        // Stale from minute 15 (600 s behind + 300 s), pending 5 minutes: quiet at 19, firing at 21.
        quiet("AggregateGaugesStale", "19m"),
        firing(
          "AggregateGaugesStale",
          "21m",
          { severity: "page", job: APP.job, region: "us-east-1" },
          "11m 0s",
        ),
      ],
    },
    {
      name: "replication lag below the RPO, or a one-sample spike above it, does not page",
      interval: "1m",
      input_series: [
        {
          series: series("db_replication_lag_seconds", {}),
          values: `${rpoSeconds - 50}x10 ${rpoSeconds * 2} ${rpoSeconds - 50}x20`,
        },
      ],
      alert_rule_test: [
        quiet("DatabaseReplicationLagAboveRpo", "11m"),
        quiet("DatabaseReplicationLagAboveRpo", "30m"),
      ],
    },
    {
      name: "a job waiting longer than the queue-age limit pages",
      interval: "1m",
      input_series: [
        { series: series("jobs_oldest_age_seconds", { queue: "bulk_jobs" }), values: "0+60x40" },
        { series: series("jobs_oldest_age_seconds", { queue: "agent_tasks" }), values: "30x40" },
      ],
      alert_rule_test: [
        quiet("JobQueueOldestJobTooOld", `${queueAgeSeconds / 60 + 2}m`),
        firing("JobQueueOldestJobTooOld", "30m", { severity: "page", queue: "bulk_jobs" }, "30m 0s"),
      ],
    },
    {
      name: "a queue that drains keeps its oldest job young and does not page",
      interval: "1m",
      // Sawtooth: jobs age to 10 minutes, then the runners catch up.
      input_series: [
        {
          series: series("jobs_oldest_age_seconds", { queue: "bulk_jobs" }),
          values: "0+60x10 0+60x10 0+60x10",
        },
      ],
      alert_rule_test: [quiet("JobQueueOldestJobTooOld", "32m")],
    },
    {
      name: "a tenant at 100 % of a meter opens a ticket per meter",
      interval: "1m",
      input_series: [
        { series: series("meter_warning_tenants", { meter: "quotes", level: "100" }), values: "0x5 2x20" },
        { series: series("meter_warning_tenants", { meter: "quotes", level: "90" }), values: "5x25" },
        { series: series("meter_warning_tenants", { meter: "bulk_jobs", level: "100" }), values: "0x25" },
      ],
      alert_rule_test: [
        quiet("MeterTenantsAtLimit", "6m"),
        firing("MeterTenantsAtLimit", "15m", { severity: "ticket", meter: "quotes" }, "2"),
      ],
    },
    {
      name: "tenants at 80 or 90 % of a meter do not open a ticket",
      interval: "1m",
      input_series: [
        { series: series("meter_warning_tenants", { meter: "quotes", level: "80" }), values: "12x20" },
        { series: series("meter_warning_tenants", { meter: "quotes", level: "90" }), values: "4x20" },
        { series: series("meter_warning_tenants", { meter: "quotes", level: "100" }), values: "0x20" },
      ],
      alert_rule_test: [quiet("MeterTenantsAtLimit", "20m")],
    },
    {
      name: "a breached P1 ticket pages at once; a breached P3 opens a ticket; none breached is quiet",
      interval: "1m",
      input_series: [
        {
          series: series("support_tickets_sla_breached", { priority: "P1", clock: "response" }),
          values: "0x3 1x10",
        },
        {
          series: series("support_tickets_sla_breached", { priority: "P1", clock: "resolution" }),
          values: "0x13",
        },
        {
          series: series("support_tickets_sla_breached", { priority: "P3", clock: "resolution" }),
          values: "0x5 2x8",
        },
        {
          series: series("support_tickets_sla_breached", { priority: "P2", clock: "response" }),
          values: "0x13",
        },
      ],
      alert_rule_test: [
        quiet("SupportP1SlaBreached", "2m"),
        firing("SupportP1SlaBreached", "5m", { severity: "page", clock: "response" }, "1"),
        quiet("SupportTicketSlaBreached", "4m"),
        firing(
          "SupportTicketSlaBreached",
          "8m",
          { severity: "ticket", priority: "P3", clock: "resolution" },
          "2",
        ),
      ],
    },
  ];
}

/** Secrets: six-hourly samples over 92 days; every secret was last rotated at time 0. */
function secretCases(): PromtoolTestCase[] {
  const { otherDays: shortDays, serviceRoleDays: defaultDays, warnDaysBefore } = OPERATIONS.secretRotation;
  // Names as the app exports them (SECRETS_LAST_ROTATED): a third-party key and the service role.
  const shortLived = "llm-provider";
  const longLived = "database-service-role";
  // A secret with no class in its name gets the strictest window, as in the policy pack.
  const unclassified = "stripe-webhook";
  const rotated = (secret: string, atDay = 0) => ({
    series: series("secret_last_rotated_timestamp_seconds", { secret }),
    values: `${atDay * 86_400}x${4 * (defaultDays + 2)}`,
  });
  const labels = (secret: string) => ({ severity: "ticket", secret, ...APP });
  return [
    {
      name: `secrets warn ${warnDaysBefore} days before their ${shortDays}- or ${defaultDays}-day deadline; unclassified ones get ${shortDays} days`,
      interval: "6h",
      input_series: [rotated(shortLived), rotated(longLived), rotated(unclassified, 10)],
      alert_rule_test: [
        quiet("SecretRotationDueSoon", `${shortDays - warnDaysBefore - 1}d`),
        firing(
          "SecretRotationDueSoon",
          `${shortDays - warnDaysBefore + 1}d`,
          labels(shortLived),
          `${warnDaysBefore - 1}d 0h 0m 0s`,
        ),
        quiet("SecretRotationOverdue", `${shortDays - 1}d`),
        firing("SecretRotationOverdue", `${shortDays + 1}d`, labels(shortLived), "1d 0h 0m 0s"),
        quiet("SecretRotationDueSoon", `${shortDays + 1}d`),
        firing("SecretRotationDueSoon", `${10 + shortDays - 5}d`, labels(unclassified), "5d 0h 0m 0s"),
        firing("SecretRotationDueSoon", `${defaultDays - 1}d`, labels(longLived), "1d 0h 0m 0s"),
      ],
    },
  ];
}

/** Compliance gauges: five-minute samples, the app's scrape-time figures. */
function complianceCases(): PromtoolTestCase[] {
  const two = (name: string, labels: Record<string, string>, values: string) => [
    // Two app replicas report the same figure: the alert counts it once.
    { series: series(name, labels), values },
    { series: series(name, { ...labels, instance: "app-1:8080" }), values },
  ];
  return [
    {
      name: "a data subject request nearing and then passing its due date alerts before and after",
      interval: "5m",
      input_series: [
        ...two("dsr_requests_open", { due: "later" }, "1x6 0x20"),
        ...two("dsr_requests_open", { due: "due_soon" }, "0x6 1x6 0x12"),
        ...two("dsr_requests_open", { due: "overdue" }, "0x12 1x12"),
      ],
      alert_rule_test: [
        quiet("DataSubjectRequestDueSoon", "25m"),
        quiet("DataSubjectRequestOverdue", "25m"),
        firing("DataSubjectRequestDueSoon", "50m", { severity: "ticket" }, "1"),
        quiet("DataSubjectRequestOverdue", "50m"),
        quiet("DataSubjectRequestDueSoon", "100m"),
        firing("DataSubjectRequestOverdue", "100m", { severity: "page" }, "1"),
      ],
    },
    {
      name: "pen-test findings alert before and after their fix date, by severity",
      interval: "5m",
      input_series: [
        ...two("pen_test_findings_open", { finding_severity: "high", due: "due_soon" }, "0x6 2x6 0x12"),
        ...two("pen_test_findings_open", { finding_severity: "high", due: "overdue" }, "0x12 2x12"),
        ...two("pen_test_findings_open", { finding_severity: "low", due: "later" }, "3x24"),
      ],
      alert_rule_test: [
        quiet("PenTestFindingFixDueSoon", "25m"),
        quiet("PenTestFindingOverdue", "25m"),
        firing("PenTestFindingFixDueSoon", "50m", { severity: "ticket", finding_severity: "high" }, "2"),
        quiet("PenTestFindingFixDueSoon", "100m"),
        firing("PenTestFindingOverdue", "100m", { severity: "ticket", finding_severity: "high" }, "2"),
      ],
    },
  ];
}

/** The pricing controller's gauges: one-minute samples from the leading operators replica. */
function pricingCases(): PromtoolTestCase[] {
  const OPERATORS = { instance: "operators-0:8081", job: "freight-operators" };
  const gauge = (name: string, labels: Record<string, string>, values: string) => ({
    series: `${name}{${Object.entries({ ...OPERATORS, ...labels })
      .map(([k, v]) => `${k}="${v}"`)
      .join(", ")}}`,
    values,
  });
  const challenger = { model: "spot", version: "2026-12.1", alias: "challenger" };
  const champion = { model: "spot", version: "2026-11.1", alias: "champion" };
  const phase = (name: string, values: string) =>
    gauge("pricing_model_phase", { model: "spot", phase: name }, values);
  return [
    {
      name: "a version drifting beyond +-10 % of settled actuals for 30 minutes alerts; one within it does not",
      interval: "1m",
      input_series: [
        gauge("pricing_version_abs_variance_percent", champion, "3.2x90"),
        gauge("pricing_version_abs_variance_percent", challenger, "4x20 14.5x70"),
      ],
      alert_rule_test: [
        quiet("PricingVarianceBeyondBound", "20m"),
        quiet("PricingVarianceBeyondBound", "45m"),
        firing("PricingVarianceBeyondBound", "60m", { severity: "ticket", ...challenger }, "14.5"),
      ],
    },
    {
      name: "an experiment paused for an hour, then rolled back, alerts for each; progressing does not",
      interval: "1m",
      input_series: [
        phase("Progressing", "1x30 0x150"),
        phase("Paused", "0x30 1x90 0x60"),
        phase("RolledBack", "0x120 1x60"),
      ],
      alert_rule_test: [
        quiet("PricingExperimentPaused", "25m"),
        quiet("PricingExperimentFailed", "25m"),
        quiet("PricingExperimentPaused", "80m"),
        firing("PricingExperimentPaused", "100m", { severity: "ticket", model: "spot" }, "1"),
        quiet("PricingExperimentPaused", "150m"),
        firing(
          "PricingExperimentFailed",
          "150m",
          { severity: "ticket", model: "spot", phase: "RolledBack" },
          "1",
        ),
      ],
    },
  ];
}

export function promtoolTestFiles(): PromtoolTestFile[] {
  return [
    {
      name: "page-and-operations.test.yaml",
      evaluation_interval: "1m",
      tests: [...SLOS.flatMap(pageCases), ...operationsCases()],
    },
    { name: "ticket.test.yaml", evaluation_interval: "30m", tests: SLOS.flatMap(ticketCases) },
    { name: "secrets.test.yaml", evaluation_interval: "6h", tests: secretCases() },
    { name: "compliance.test.yaml", evaluation_interval: "5m", tests: complianceCases() },
    { name: "pricing.test.yaml", evaluation_interval: "1m", tests: pricingCases() },
  ];
}

/** Alert names with at least one firing and at least one quiet expectation, respectively. */
export function alertCoverage(files = promtoolTestFiles()): { firing: Set<string>; quiet: Set<string> } {
  const coverage = { firing: new Set<string>(), quiet: new Set<string>() };
  for (const file of files) {
    for (const test of file.tests) {
      for (const expectation of test.alert_rule_test) {
        (expectation.exp_alerts.length > 0 ? coverage.firing : coverage.quiet).add(expectation.alertname);
      }
    }
  }
  return coverage;
}
