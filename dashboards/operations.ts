// The on-call dashboard: SLO burn, queues, replication lag against the RPO, meter warnings,
// regions and secrets. Each panel carries its one-line definition.
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { PROMETHEUS, figure, instantQuery, prometheusVariable, promQuery, trend } from "./panels.ts";
import { OPERATIONS, errorRatioRecord } from "./slo.ts";

export function operationsDashboard(): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder("Platform operations")
    .uid("freight-operations")
    .description(
      "On-call view: error budget burn, job queues, replication lag vs RPO, meter warnings, regions, secrets.",
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
