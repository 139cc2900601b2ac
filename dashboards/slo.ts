// The service level objectives, as data. The SLO dashboard panels, the recording rules and the
// multi-window, multi-burn-rate alerts are all generated from these definitions, so an objective or
// an SLI query changes in exactly one place.

/** A Prometheus range duration, as written in PromQL (`5m`, `1h`, `3d`). */
export type Window = `${number}${"m" | "h" | "d"}`;

export interface ServiceLevelObjective {
  /** Stable id, used as the `slo` label of every recording rule and alert. */
  id: string;
  /** Alert name prefix in CamelCase (`ApiAvailability` -> `ApiAvailabilityBudgetBurnFast`). */
  alertPrefix: string;
  title: string;
  /** What a user experiences when this SLO is missed, for alert descriptions and the runbook. */
  description: string;
  /** Target ratio of good events, e.g. 0.9995. */
  objective: number;
  /** The compliance window the objective is promised over. */
  period: Window;
  /** Bad events over a window: a PromQL expression whose `$window` placeholder is replaced. */
  badEvents: string;
  /** All events over a window, same placeholder. */
  totalEvents: string;
  /** How the SLO card shows the SLI (`ratio` as a percentage, `latency` as the p95 in seconds). */
  display: "ratio" | "latency";
  /** For latency SLOs: the p95 expression shown on the card, and its threshold in seconds. */
  latency?: { quantileExpr: string; thresholdSeconds: number };
  /** Why the definition is what it is, where it is not obvious; goes into the runbook and the rule. */
  rationale: string;
}

/** The API routes whose answers count towards availability: the public API, not probes or scrapes. */
const API_ROUTES = `route=~"/v1/.*"`;
/** Pricing a spot quote: the request the latency objective is about. */
const QUOTE_CREATION = `route="/v1/quotes", method="POST", status_class="2xx"`;
/** The latency objective is 600 ms, which is a bucket edge of http_request_duration_seconds. */
export const QUOTE_LATENCY_THRESHOLD_SECONDS = 0.6;

export const SLOS: readonly ServiceLevelObjective[] = [
  {
    id: "api-availability",
    alertPrefix: "ApiAvailability",
    title: "API availability",
    description: "API requests answered without a server error (5xx)",
    objective: 0.9995,
    period: "30d",
    badEvents: `sum(rate(http_request_duration_seconds_count{${API_ROUTES}, status_class="5xx"}[$window]))`,
    totalEvents: `sum(rate(http_request_duration_seconds_count{${API_ROUTES}}[$window]))`,
    display: "ratio",
    rationale:
      "Monthly uptime is request-based: the share of /v1 requests not answered with a 5xx. 4xx answers are the caller's mistake and count as good.",
  },
  {
    id: "agent-task-success",
    alertPrefix: "AgentTaskSuccess",
    title: "Agent task success",
    description: "agent tasks that finished successfully (retries that later succeed count once, as success)",
    objective: 0.99,
    period: "1h",
    badEvents: `sum(rate(agent_tasks_finished_total{status="failed"}[$window]))`,
    totalEvents: `sum(rate(agent_tasks_finished_total{status=~"success|failed"}[$window]))`,
    display: "ratio",
    rationale:
      "The objective is per rolling hour, so the 1 h compliance window is also the shortest alert window: a 1 h burn rate above 1 " +
      "already means the current hour missed 99 %. We keep the standard multipliers applied to the 1 % budget, so they read as " +
      "failure-ratio thresholds: page when more than 14.4 % of tasks failed in the last hour (and still in the last 5 m) or more " +
      "than 6 % over 6 h; ticket when more than 3 % failed over a day or more than 1 % over 3 days (every hour missing on average). " +
      "A 30-day budget would let a bad hour hide in a good month, which the per-hour promise rules out. " +
      "`retrying` attempts are not outcomes: the task is still running, and its final success or failure is counted.",
  },
  {
    id: "quote-latency",
    alertPrefix: "QuoteLatency",
    title: "Quote latency",
    description: "spot quotes priced within 600 ms (p95 objective)",
    objective: 0.95,
    period: "30d",
    badEvents:
      `(sum(rate(http_request_duration_seconds_count{${QUOTE_CREATION}}[$window]))` +
      ` - sum(rate(http_request_duration_seconds_bucket{${QUOTE_CREATION}, le="0.6"}[$window])))`,
    totalEvents: `sum(rate(http_request_duration_seconds_count{${QUOTE_CREATION}}[$window]))`,
    display: "latency",
    latency: {
      quantileExpr: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${QUOTE_CREATION}}[$window])))`,
      thresholdSeconds: QUOTE_LATENCY_THRESHOLD_SECONDS,
    },
    rationale:
      '"p95 <= 600 ms" is measured as an event ratio: at most 5 % of successful quote requests may be slower than 0.6 s ' +
      '(the count minus the le="0.6" bucket). Unlike a quantile, this ratio can be averaged over any window and burns a budget.',
  },
];

/** One condition of a multi-window alert: both windows must burn faster than `factor`. */
export interface BurnWindowPair {
  long: Window;
  short: Window;
  factor: number;
}

export interface BurnRateAlertPolicy {
  severity: "page" | "ticket";
  /** Alert name suffix. */
  suffix: "BudgetBurnFast" | "BudgetBurnSlow";
  /** Alert fires when any pair fires. */
  pairs: BurnWindowPair[];
  /** How long the condition must hold; short, because the short window already filters blips. */
  for: string;
}

/**
 * The multi-window, multi-burn-rate policy from the Google SRE workbook (chapter 5, "Alerting on
 * SLOs"): 14.4x over 1 h spends 2 % of a 30-day budget in an hour, 6x over 6 h spends 5 % in six
 * hours; the short window makes the alert reset soon after the burn stops.
 */
export const BURN_RATE_POLICY: readonly BurnRateAlertPolicy[] = [
  {
    severity: "page",
    suffix: "BudgetBurnFast",
    pairs: [
      { long: "1h", short: "5m", factor: 14.4 },
      { long: "6h", short: "30m", factor: 6 },
    ],
    for: "2m",
  },
  {
    severity: "ticket",
    suffix: "BudgetBurnSlow",
    pairs: [
      { long: "1d", short: "2h", factor: 3 },
      { long: "3d", short: "6h", factor: 1 },
    ],
    for: "15m",
  },
];

/** Every window an error-ratio recording rule is needed for, shortest first. */
export function burnWindows(): Window[] {
  const seen = new Set<Window>();
  for (const policy of BURN_RATE_POLICY) {
    for (const pair of policy.pairs) {
      seen.add(pair.short);
      seen.add(pair.long);
    }
  }
  return [...seen].sort((a, b) => windowSeconds(a) - windowSeconds(b));
}

export function windowSeconds(window: Window): number {
  const unit = window.slice(-1);
  const amount = Number(window.slice(0, -1));
  const seconds = unit === "m" ? 60 : unit === "h" ? 3600 : 86_400;
  return amount * seconds;
}

/** Replaces the `$window` placeholder of an SLI expression. */
export function forWindow(expression: string, window: string): string {
  return expression.replaceAll("$window", window);
}

/**
 * The error ratio over a window. Bad events default to 0 when their series does not exist yet (a
 * counter with labels appears only after its first increment): without that, a service with no
 * errors at all would show "no data" instead of 100 %. No traffic at all still gives no data.
 */
export function errorRatio(slo: ServiceLevelObjective, window: string): string {
  return `(${forWindow(slo.badEvents, window)} or vector(0))\n/\n(${forWindow(slo.totalEvents, window)})`;
}

/** Name of the recording rule holding an SLO's error ratio over a window. */
export function errorRatioRecord(window: Window): string {
  return `slo:sli_error:ratio_rate${window}`;
}

/** The error budget as a ratio: 1 - objective (0.0005 for 99.95 %). */
export function errorBudget(slo: ServiceLevelObjective): number {
  // Rounded so 1 - 0.9995 prints as 0.0005, not 0.000499999...
  return Number((1 - slo.objective).toFixed(10));
}

/** Operational thresholds the non-SLO alerts and the operations dashboard share. */
export const OPERATIONS = {
  /** Recovery point objective of the cross-region database replica. */
  rpoSeconds: 300,
  /** A runnable job waiting longer than this means the runners are not keeping up (or are stuck). */
  queueAgeSeconds: 900,
  /**
   * The LLM provider may be degraded (circuit open: LLM tasks fall back or wait, nothing is lost)
   * this long before someone is paged: a short outage heals itself; a long one means drafts wait.
   */
  llmDegradedMinutes: 10,
  /** Workflow automation (n8n) degraded this long (rejected key or open circuit) pages: invites wait. */
  workflowDegradedMinutes: 10,
  /**
   * Rotation windows, the same as the policy pack's secrets-rotation-window rule: the service role's
   * credentials rotate every 90 days; third-party API keys and any unclassified secret (the
   * strictest window, so a new secret is never under-watched) every 30 days.
   */
  secretRotation: {
    serviceRoleDays: 90,
    otherDays: 30,
    /** PromQL (RE2, fully anchored) matching the `secret` label of service-role credentials: the
     *  app's service role and every database login (operator, runner) rotated on the same window. */
    serviceRolePattern: "(?i).*(service-?role|database-[a-z]+-role).*",
    /** Warn this many days before the deadline, so the rotation can be planned into a week. */
    warnDaysBefore: 7,
  },
} as const;

/** 0.9995 -> "99.95 %", without floating point noise. */
export function formatPercent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(10))} %`;
}
