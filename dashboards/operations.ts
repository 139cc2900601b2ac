// The on-call dashboard: SLO burn, queues, replication lag against the RPO, meter warnings,
// regions and secrets. Each panel carries its one-line definition.
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { PROMETHEUS, figure, instantQuery, prometheusVariable, promQuery, trend } from "./panels.ts";
import { PRICING_VARIANCE_BOUND_PERCENT } from "./pricing-rules.ts";
import { OPERATIONS, errorRatioRecord } from "./slo.ts";

export function operationsDashboard(): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder("Platform operations")
    .uid("freight-operations")
    .description(
      "On-call view: error budget burn, job queues, replication lag vs RPO, meter warnings, pricing experiments, regions, secrets.",
    )
    .tags(["freight", "operations", "slo"])
    .time({ from: "now-6h", to: "now" })
    .timezone("utc")
    .refresh("1m")
    .readonly()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .withVariable(prometheusVariable());

  builder.withRow(new dashboard.RowBuilder("Error budget burn"));
  builder.withPanel(
    trend({
      title: "Burn rate, 1 h window",
      definition:
        "Error ratio over the last hour divided by the error budget, per SLO; 14.4 (red) pages together with the 5 m window.",
      unit: "none",
      queries: [promQuery(`${errorRatioRecord("1h")} / on (slo) slo:error_budget:ratio`, "{{slo}}")],
      limit: 14.4,
    }),
  );
  builder.withPanel(
    trend({
      title: "Burn rate, 6 h window",
      definition:
        "Error ratio over the last 6 hours divided by the error budget, per SLO; 6 (red) pages together with the 30 m window.",
      unit: "none",
      queries: [promQuery(`${errorRatioRecord("6h")} / on (slo) slo:error_budget:ratio`, "{{slo}}")],
      limit: 6,
    }),
  );
  builder.withPanel(
    trend({
      title: "Requests by status class",
      definition: "API requests per second by status class (2xx, 4xx, 5xx), all /v1 routes.",
      unit: "reqps",
      queries: [
        promQuery(
          'sum by (status_class) (rate(http_request_duration_seconds_count{route=~"/v1/.*"}[5m]))',
          "{{status_class}}",
        ),
      ],
      width: 24,
    }),
  );

  builder.withRow(new dashboard.RowBuilder("Jobs and replication"));
  builder.withPanel(
    trend({
      title: "Queue depth",
      definition: "Runnable jobs waiting, per queue.",
      unit: "none",
      queries: [promQuery("sum by (queue) (jobs_queue_depth)", "{{queue}}")],
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Oldest job age",
      definition: `Age of the oldest runnable job per queue; alert above ${OPERATIONS.queueAgeSeconds / 60} min (red).`,
      unit: "s",
      queries: [promQuery("max by (queue) (jobs_oldest_age_seconds)", "{{queue}}")],
      limit: OPERATIONS.queueAgeSeconds,
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Replication lag vs RPO",
      definition: `Database replication lag per instance; the RPO is ${OPERATIONS.rpoSeconds / 60} min (red).`,
      unit: "s",
      queries: [promQuery("max by (instance) (db_replication_lag_seconds)", "{{instance}}")],
      limit: OPERATIONS.rpoSeconds,
      width: 8,
    }),
  );

  builder.withRow(new dashboard.RowBuilder("Metering"));
  builder.withPanel(
    trend({
      title: "Tenants at a meter warning level",
      definition: "Tenants whose usage this period reached 80, 90 or 100 % of a meter, by level.",
      unit: "none",
      queries: [promQuery("sum by (level) (meter_warning_tenants)", "{{level}} %")],
    }),
  );
  builder.withPanel(
    trend({
      title: "Meter decisions",
      definition:
        "Metered actions per second by decision: admitted, overage (billed beyond included), denied (hard ceiling).",
      unit: "ops",
      queries: [promQuery("sum by (decision) (rate(meter_decisions_total[5m]))", "{{decision}}")],
    }),
  );

  // Champion and challenger side by side in each panel: one series per version in force.
  builder.withRow(new dashboard.RowBuilder("Pricing experiments"));
  const byVersion = (metric: string) =>
    promQuery(`max by (model, alias, version) (${metric})`, "{{model}} {{alias}} {{version}}");
  builder.withPanel(
    trend({
      title: "Variance vs settled actuals, by version",
      definition: `Mean absolute variance of quoted vs invoiced rates over the analysis window, champion and challenger; the bound is ${PRICING_VARIANCE_BOUND_PERCENT} % (red).`,
      unit: "percent",
      queries: [byVersion("pricing_version_abs_variance_percent")],
      limit: PRICING_VARIANCE_BOUND_PERCENT,
    }),
  );
  builder.withPanel(
    trend({
      title: "Realised margin, by version",
      definition:
        "Margin over carrier cost of settled bookings over the analysis window, champion and challenger.",
      unit: "percent",
      queries: [byVersion("pricing_version_margin_percent")],
    }),
  );
  builder.withPanel(
    trend({
      title: "Settled samples, by version",
      definition:
        "Settled bookings each version quoted in the analysis window; fewer than minSamples pauses the analysis.",
      unit: "none",
      queries: [byVersion("pricing_version_settled_samples")],
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Regional cap breaches, by version",
      definition:
        "Quotes the margin floor kept above a regional cap in the analysis window; any fails the analysis.",
      unit: "none",
      queries: [byVersion("pricing_version_cap_breaches")],
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Challenger weight",
      definition: "Percent of tenants priced by each model's challenger; drops to 0 on a rollback.",
      unit: "percent",
      queries: [promQuery("max by (model) (pricing_model_challenger_weight_percent)", "{{model}}")],
      width: 8,
    }),
  );

  // The read canary (RegionFailover spec.readCanary): which database answers, and what is published.
  builder.withRow(new dashboard.RowBuilder("Read canary"));
  builder.withPanel(
    trend({
      title: "Requests served, by database",
      definition:
        "Successful API requests per second by the region role of the database that answered and kind; a write on secondary while the primary serves would be a bug.",
      unit: "ops",
      queries: [
        promQuery("sum by (database, kind) (rate(db_requests_served_total[5m]))", "{{kind}} on {{database}}"),
      ],
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Read canary weight",
      definition:
        "Percent of eligible reads the serving region's API sends to the standby replica; drops to 0 when the health gate trips it.",
      unit: "percent",
      queries: [promQuery("max by (instance) (read_canary_weight_percent)", "{{instance}}")],
      width: 8,
    }),
  );
  builder.withPanel(
    trend({
      title: "Read canary fallbacks",
      definition:
        "Canary reads the standby replica failed, retried on the serving database (users saw no error).",
      unit: "ops",
      queries: [promQuery("sum(rate(read_canary_fallbacks_total[5m]))", "fallbacks")],
      width: 8,
    }),
  );

  builder.withRow(new dashboard.RowBuilder("Regions and secrets"));
  builder.withPanel(
    figure({
      title: "Regions serving writes",
      definition:
        "Number of regions reporting themselves active; anything but 1 is a split brain or an outage.",
      unit: "none",
      datasource: PROMETHEUS,
      query: instantQuery("sum(region_serving)"),
      thresholds: { value: 1 },
    }),
  );
  builder.withPanel(
    figure({
      title: "Writes frozen",
      definition: "1 while a region failover holds writes (they answer 503 with Retry-After).",
      unit: "none",
      datasource: PROMETHEUS,
      query: instantQuery("max(writes_frozen)"),
      thresholds: { value: 1, higherIsWorse: true },
    }),
  );
  builder.withPanel(
    figure({
      title: "Days to the next secret rotation deadline",
      definition:
        "Smallest time left before a secret must rotate (30- or 90-day policy); negative means overdue.",
      unit: "d",
      datasource: PROMETHEUS,
      query: instantQuery("min((secret:rotation_deadline:timestamp_seconds - time()) / 86400)"),
      thresholds: { value: OPERATIONS.secretRotation.warnDaysBefore },
      decimals: 1,
      width: 12,
    }),
  );

  return builder.build();
}
