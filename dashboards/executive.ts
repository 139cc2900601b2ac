// The executive dashboard leadership reviews weekly: the SLO card, conversions and revenue.
// Each panel carries its one-line definition (shown as the panel description in Grafana).
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import type * as stat from "@grafana/grafana-foundation-sdk/stat";
import { CONVERSIONS, NPS, REVENUE, type BusinessQuery } from "./business.ts";
import {
  POSTGRES,
  PROMETHEUS,
  SqlQueryBuilder,
  figure,
  instantQuery,
  prometheusVariable,
  promQuery,
  trend,
} from "./panels.ts";
import {
  SLOS,
  errorBudget,
  errorRatioRecord,
  errorRatio,
  forWindow,
  formatPercent,
  type ServiceLevelObjective,
} from "./slo.ts";

/** The SLI over the SLO's whole compliance period, as a good-event ratio. */
export function sliOverPeriod(slo: ServiceLevelObjective): string {
  return `1 - (${errorRatio(slo, slo.period).replaceAll("\n", " ")})`;
}

/** Share of the period's error budget not yet spent (negative once the objective is missed). */
export function budgetLeft(slo: ServiceLevelObjective): string {
  return `1 - (${errorRatio(slo, slo.period).replaceAll("\n", " ")}) / ${errorBudget(slo)}`;
}

function sloCard(slo: ServiceLevelObjective): stat.PanelBuilder[] {
  const objective = formatPercent(slo.objective);
  const sli =
    slo.display === "latency" && slo.latency
      ? figure({
          title: `${slo.title}: p95 (${slo.period})`,
          definition: `95th percentile of ${slo.description} over ${slo.period}; objective <= ${slo.latency.thresholdSeconds * 1000} ms.`,
          unit: "s",
          datasource: PROMETHEUS,
          query: instantQuery(forWindow(slo.latency.quantileExpr, slo.period)),
          thresholds: { value: slo.latency.thresholdSeconds, higherIsWorse: true },
          decimals: 3,
        })
      : figure({
          title: slo.period === "1h" ? `${slo.title} (rolling hour)` : `${slo.title} (${slo.period})`,
          definition: `Share of ${slo.description} over the last ${slo.period}; objective ${objective}.`,
          unit: "percentunit",
          datasource: PROMETHEUS,
          query: instantQuery(
            slo.period === "1h" ? `1 - ${errorRatioRecord("1h")}{slo="${slo.id}"}` : sliOverPeriod(slo),
          ),
          thresholds: { value: slo.objective },
          decimals: 3,
        });
  const budget = figure({
    title: `${slo.title}: error budget left`,
    definition: `Share of the ${slo.period} error budget (${formatPercent(errorBudget(slo))} bad events) not yet spent.`,
    unit: "percentunit",
    datasource: PROMETHEUS,
    query: instantQuery(budgetLeft(slo)),
    thresholds: { value: 0 },
    decimals: 1,
  });
  return [sli, budget];
}

function businessFigure(query: BusinessQuery, width: number): stat.PanelBuilder {
  return figure({
    title: query.title,
    definition: query.definition,
    unit: query.unit,
    datasource: POSTGRES,
    query: new SqlQueryBuilder(query.sql),
    decimals: query.unit === "percentunit" ? 1 : 0,
    width,
  });
}

export function executiveDashboard(): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder("Executive overview")
    .uid("freight-executive")
    .description(
      "Weekly leadership review: SLOs, conversions, NPS and revenue. Business figures come from PostgreSQL (freight_ops).",
    )
    .tags(["freight", "executive", "slo"])
    .time({ from: "now-7d", to: "now" })
    .timezone("utc")
    .refresh("5m")
    .readonly()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .withVariable(prometheusVariable());

  builder.withRow(new dashboard.RowBuilder("SLO card"));
  for (const slo of SLOS) for (const panel of sloCard(slo)) builder.withPanel(panel);

  builder.withRow(new dashboard.RowBuilder("Conversions"));
  for (const query of CONVERSIONS) builder.withPanel(businessFigure(query, 8));
  builder.withPanel(
    trend({
      title: "Quote -> book and invite -> onboard, daily",
      definition:
        "Bookings per quote created and carrier invites accepted per invite sent, per day, from the app's counters.",
      unit: "percentunit",
      queries: [
        promQuery(
          "sum(increase(quote_bookings_total[1d])) / sum(increase(quotes_created_total[1d]))",
          "quote -> book",
          "A",
        ),
        promQuery(
          'sum(increase(carrier_invite_events_total{event="accepted"}[1d])) / sum(increase(carrier_invite_events_total{event="sent"}[1d]))',
          "invite -> onboard",
          "B",
        ),
      ],
      width: 24,
    }),
  );

  builder.withRow(new dashboard.RowBuilder("NPS by cohort"));
  for (const query of NPS) builder.withPanel(businessFigure(query, 8));

  builder.withRow(new dashboard.RowBuilder("Revenue"));
  for (const query of REVENUE) builder.withPanel(businessFigure(query, 4));

  return builder.build();
}
