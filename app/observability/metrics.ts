// The app's Prometheus metrics. Labels are bounded (route pattern, method, status class, meter, plan,
// decision...): never tenant, key or quote ids, so cardinality stays flat as customers grow.
// Dashboards and SLO rules in dashboards/ are generated against these names; a test scrapes a running
// app and checks every metric they use exists here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { rotationGauges } from "./secret-rotation.ts";

/** Latency buckets in seconds; 0.6 s is the quote p95 objective, so it must be a bucket edge. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.6, 1, 2.5, 5];

export interface AppMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<"route" | "method" | "status_class">;
  quotesCreated: Counter<"equipment">;
  pricingVersionQuotes: Counter<"model" | "version">;
  pricingVersionMarginPercent: Histogram<"model" | "version">;
  quoteBookings: Counter;
  meterDecisions: Counter<"meter" | "decision">;
  rateLimitDecisions: Counter<"policy" | "decision">;
  rateLimitStoreErrors: Counter;
  meterWarningTenants: Gauge<"meter" | "level">;
  carrierInviteEvents: Counter<"event">;
  agentTasksFinished: Counter<"kind" | "status">;
  jobsQueueDepth: Gauge<"queue">;
  jobsOldestAgeSeconds: Gauge<"queue">;
  dbReplicationLagSeconds: Gauge;
  aggregateGaugesLastSuccess: Gauge;
  aggregateGaugesRefreshFailures: Counter;
  regionServing: Gauge<"region" | "role">;
  writesFrozen: Gauge;
  dsrRequestsOpen: Gauge<"due">;
  penTestFindingsOpen: Gauge<"finding_severity" | "due">;
  secretLastRotated: Gauge<"secret">;
  readinessDegraded: Gauge<"check">;
  billingWebhookEvents: Counter<"event_type" | "outcome">;
  runnerJobsFinished: Counter<"queue" | "status">;
  runnerJobWaitSeconds: Histogram<"queue">;
  runnerJobsInFlight: Gauge<"queue">;
  runnerState: Gauge<"state">;
  bulkJobLanes: Counter<"result">;
  supportTicketsBreached: Gauge<"priority" | "clock">;
  alertTicketNotifications: Counter<"outcome">;
  llmRequests: Counter<"task_kind" | "outcome">;
  llmRequestSeconds: Histogram<"task_kind">;
  llmCircuitState: Gauge<"state">;
  llmProviderDegraded: Gauge;
  workflowRequests: Counter<"event" | "outcome">;
  workflowAutomationDegraded: Gauge<"reason">;
  agentTaskFallbacks: Counter<"kind" | "fallback">;
  dbRequestsServed: Counter<"database" | "kind">;
  readCanaryWeight: Gauge;
  readCanaryFallbacks: Counter;
}

/** Queue wait buckets in seconds, from a claim within a poll interval to a backlog of minutes. */
export const QUEUE_WAIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Margin buckets in percent: fine around the usual floors (5 to 15 %) and the engine's 15 %. */
export const MARGIN_PERCENT_BUCKETS = [0, 5, 8, 10, 12, 14, 15, 16, 18, 20, 25, 30, 40, 50];

export function createMetrics(): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency by route pattern, method and status class (2xx, 4xx, 5xx).",
      labelNames: ["route", "method", "status_class"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    quotesCreated: new Counter({
      name: "quotes_created_total",
      help: "Spot quotes priced and stored, by equipment type.",
      labelNames: ["equipment"],
      registers: [registry],
    }),
    // Per PricingModel version (a handful per model, never tenants): the A/B side by side.
    pricingVersionQuotes: new Counter({
      name: "pricing_version_quotes_total",
      help: "Quotes and bulk lanes priced by a PricingModel version (contract rates excluded), by model and version.",
      labelNames: ["model", "version"],
      registers: [registry],
    }),
    pricingVersionMarginPercent: new Histogram({
      name: "pricing_version_margin_percent",
      help: "Quoted margin in percent of linehaul + fuel, by PricingModel and version (the margin floor's measure).",
      labelNames: ["model", "version"],
      buckets: MARGIN_PERCENT_BUCKETS,
      registers: [registry],
    }),
    quoteBookings: new Counter({
      name: "quote_bookings_total",
      help: "Quotes booked (the quote -> book conversion numerator).",
      registers: [registry],
    }),
    meterDecisions: new Counter({
      name: "meter_decisions_total",
      help: "Metered actions by meter and decision: admitted (within included), overage (beyond included, under the ceiling), denied (hard stop).",
      labelNames: ["meter", "decision"],
      registers: [registry],
    }),
    rateLimitDecisions: new Counter({
      name: "rate_limit_decisions_total",
      help: "Request rate limit decisions by policy (tenant, address) and decision (admitted, denied).",
      labelNames: ["policy", "decision"],
      registers: [registry],
    }),
    rateLimitStoreErrors: new Counter({
      name: "rate_limit_store_errors_total",
      help: "Token leases the shared store could not grant (read-only standby database, database down); those requests were admitted unlimited.",
      registers: [registry],
    }),
    supportTicketsBreached: new Gauge({
      name: "support_tickets_sla_breached",
      help: "Unresolved support tickets past an SLA deadline, by priority and clock (response: unanswered past its response deadline; resolution: unresolved past its resolution deadline).",
      labelNames: ["priority", "clock"],
      registers: [registry],
    }),
    alertTicketNotifications: new Counter({
      name: "support_alert_notifications_total",
      help: "Alertmanager notifications applied to support tickets, by outcome (opened, updated, resolved, already-resolved).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    meterWarningTenants: new Gauge({
      name: "meter_warning_tenants",
      help: "Tenants whose usage in the current period is at a warning level (80, 90 or 100 percent) of a meter.",
      labelNames: ["meter", "level"],
      registers: [registry],
    }),
    carrierInviteEvents: new Counter({
      name: "carrier_invite_events_total",
      help: "Carrier directory invites by event: sent, accepted (the invite -> onboard conversion).",
      labelNames: ["event"],
      registers: [registry],
    }),
    agentTasksFinished: new Counter({
      name: "agent_tasks_finished_total",
      help: "Agent task attempts finished, by task kind and status (success, failed, retrying; deferred: put back uncounted while a dependency such as the LLM provider is unavailable).",
      labelNames: ["kind", "status"],
      registers: [registry],
    }),
    jobsQueueDepth: new Gauge({
      name: "jobs_queue_depth",
      help: "Runnable background jobs waiting in the queue, by queue.",
      labelNames: ["queue"],
      registers: [registry],
    }),
    jobsOldestAgeSeconds: new Gauge({
      name: "jobs_oldest_age_seconds",
      help: "Age of the oldest runnable job in the queue, by queue.",
      labelNames: ["queue"],
      registers: [registry],
    }),
    dbReplicationLagSeconds: new Gauge({
      name: "db_replication_lag_seconds",
      help: "Replication lag of the database this app reads from: replay delay on a replica, largest standby replay lag on a primary.",
      registers: [registry],
    }),
    aggregateGaugesLastSuccess: new Gauge({
      name: "aggregate_gauges_last_success_timestamp_seconds",
      help: "When the aggregate gauges (replication lag, queues, meter warnings, SLA, compliance) were last read from the ops connection; set to the start time when one is configured, absent without one.",
      registers: [registry],
    }),
    aggregateGaugesRefreshFailures: new Counter({
      name: "aggregate_gauges_refresh_failures_total",
      help: "Scrapes whose aggregate gauges could not be read from the ops connection: they kept their last values.",
      registers: [registry],
    }),
    regionServing: new Gauge({
      name: "region_serving",
      help: "1 when this region is the active region serving writes, 0 when it is standby.",
      labelNames: ["region", "role"],
      registers: [registry],
    }),
    dsrRequestsOpen: new Gauge({
      name: "dsr_requests_open",
      help: "Data subject requests not yet completed or denied, by due: overdue (past the 7 days), due_soon (within 48 h), later.",
      labelNames: ["due"],
      registers: [registry],
    }),
    penTestFindingsOpen: new Gauge({
      name: "pen_test_findings_open",
      // finding_severity, not severity: alert rules set severity (page/ticket) for routing.
      help: "Open pen-test findings by finding_severity and due: overdue (past found + 14 days), due_soon (within 7 days), later.",
      labelNames: ["finding_severity", "due"],
      registers: [registry],
    }),
    writesFrozen: new Gauge({
      name: "writes_frozen",
      help: "1 while writes are frozen for a region failover (writes answer 503 with Retry-After).",
      registers: [registry],
    }),
    ...rotationGauges(registry),
    billingWebhookEvents: new Counter({
      name: "billing_webhook_events_total",
      help: "Stripe webhook deliveries by event type (the handled ones, other, unverified) and outcome (applied, replayed, ignored, bad-signature, ...).",
      labelNames: ["event_type", "outcome"],
      registers: [registry],
    }),
    runnerJobsFinished: new Counter({
      name: "runner_jobs_finished_total",
      help: "Jobs a runner finished working on, by queue (bulk_rating, agent_tasks) and status (succeeded, success, retrying, failed, released, lease_lost).",
      labelNames: ["queue", "status"],
      registers: [registry],
    }),
    runnerJobWaitSeconds: new Histogram({
      name: "runner_job_wait_seconds",
      help: "Time a job waited in the queue (from runnable to claimed), by queue.",
      labelNames: ["queue"],
      buckets: QUEUE_WAIT_BUCKETS,
      registers: [registry],
    }),
    runnerJobsInFlight: new Gauge({
      name: "runner_jobs_in_flight",
      help: "Jobs this runner is working on now, by queue.",
      labelNames: ["queue"],
      registers: [registry],
    }),
    runnerState: new Gauge({
      name: "runner_state",
      help: "1 for the runner's current state (running, draining, paused, drained), 0 for the others.",
      labelNames: ["state"],
      registers: [registry],
    }),
    bulkJobLanes: new Counter({
      name: "bulk_job_lanes_total",
      help: "Bulk rating lanes processed, by result (priced, invalid).",
      labelNames: ["result"],
      registers: [registry],
    }),
    llmRequests: new Counter({
      name: "llm_requests_total",
      help: "Calls to the LLM provider by agent task kind and outcome (success, rate_limited, timeout, invalid_answer, error, unavailable: not sent, circuit open).",
      labelNames: ["task_kind", "outcome"],
      registers: [registry],
    }),
    llmRequestSeconds: new Histogram({
      name: "llm_request_duration_seconds",
      help: "Time an agent task waited for the LLM provider (retries and the per-attempt timeout included), by task kind.",
      labelNames: ["task_kind"],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30],
      registers: [registry],
    }),
    llmCircuitState: new Gauge({
      name: "llm_circuit_state",
      help: "1 for the LLM provider circuit breaker's current state (closed, open, half_open), 0 for the others.",
      labelNames: ["state"],
      registers: [registry],
    }),
    llmProviderDegraded: new Gauge({
      name: "llm_provider_degraded",
      help: "1 while the LLM provider circuit is open or half-open: the runner serves, LLM tasks fall back or wait.",
      registers: [registry],
    }),
    workflowRequests: new Counter({
      name: "workflow_automation_requests_total",
      help: "Events handed to workflow automation (n8n), by event and outcome (delivered, credential_rejected, unavailable, timeout, refused, error).",
      labelNames: ["event", "outcome"],
      registers: [registry],
    }),
    workflowAutomationDegraded: new Gauge({
      name: "workflow_automation_degraded",
      help: "1 while workflow automation is degraded for the reason (credential_rejected: 401/403 on our key; circuit_open): the runner serves, events wait.",
      labelNames: ["reason"],
      registers: [registry],
    }),
    agentTaskFallbacks: new Counter({
      name: "agent_task_fallbacks_total",
      help: "Agent task attempts that could not use the LLM provider, by kind and fallback (rules, template, deferred).",
      labelNames: ["kind", "fallback"],
      registers: [registry],
    }),
    dbRequestsServed: new Counter({
      name: "db_requests_served_total",
      help: "Successful API requests by the region role of the database that answered them (primary, secondary) and kind (read, write): the read canary's share of reads, and proof that no write reaches the standby.",
      labelNames: ["database", "kind"],
      registers: [registry],
    }),
    readCanaryWeight: new Gauge({
      name: "read_canary_weight_percent",
      help: "Percent of canary-eligible reads this process sends to the standby region's replica (the routing row's readCanary).",
      registers: [registry],
    }),
    readCanaryFallbacks: new Counter({
      name: "read_canary_fallbacks_total",
      help: "Canary reads the standby replica failed to answer, retried on the serving database (the user saw no error).",
      registers: [registry],
    }),
  };
}

export function statusClass(statusCode: number): string {
  return `${Math.floor(statusCode / 100)}xx`;
}
