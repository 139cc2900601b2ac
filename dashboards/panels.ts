// Small panel helpers over the Grafana Foundation SDK builders, so each dashboard reads as a list
// of figures: title, one-line definition, query.
import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";

/** Prometheus is picked through a variable, so the dashboards import into any Grafana. */
export const PROMETHEUS: common.DataSourceRef = { type: "prometheus", uid: "${prometheus}" };

/**
 * The PostgreSQL datasource the stacks provision in Grafana (infra/monitoring/grafana-datasource.ts):
 * the analytics replica, logged in as the read-only freight_ops role. Business panels name it by
 * uid, not through a variable, so they can never be pointed at a login with more rights.
 */
export const ANALYTICS_DATASOURCE_UID = "freight-analytics";
export const POSTGRES: common.DataSourceRef = {
  type: "grafana-postgresql-datasource",
  uid: ANALYTICS_DATASOURCE_UID,
};

export function prometheusVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder("prometheus").label("Prometheus").type("prometheus");
}

export function promQuery(expr: string, legend = "", refId = "A"): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat(legend)
    .refId(refId);
}

export function instantQuery(expr: string, refId = "A"): prometheus.DataqueryBuilder {
  return promQuery(expr, "", refId).instant().format(prometheus.PromQueryFormat.Table);
}

/** A Grafana PostgreSQL query. The SDK has no builder for this datasource, so this is one. */
export interface SqlQuery extends cog.Dataquery {
  refId: string;
  datasource: common.DataSourceRef;
  rawSql: string;
  format: "table" | "time_series";
  rawQuery: true;
  editorMode: "code";
}

export class SqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly sql: string;
  private readonly refId: string;
  private readonly format: SqlQuery["format"];

  constructor(sql: string, format: SqlQuery["format"] = "table", refId = "A") {
    this.sql = sql;
    this.format = format;
    this.refId = refId;
  }

  build(): SqlQuery {
    return {
      refId: this.refId,
      datasource: POSTGRES,
      rawSql: this.sql,
      format: this.format,
      rawQuery: true,
      editorMode: "code",
      _implementsDataqueryVariant() {},
    };
  }
}

export interface Thresholds {
  /** Value at which the figure turns from red to green (or green to red when `higherIsWorse`). */
  value: number;
  higherIsWorse?: boolean;
}

function thresholds(t: Thresholds | undefined): dashboard.ThresholdsConfigBuilder {
  const steps: dashboard.Threshold[] = !t
    ? [{ value: null, color: "blue" }]
    : t.higherIsWorse
      ? [
          { value: null, color: "green" },
          { value: t.value, color: "red" },
        ]
      : [
          { value: null, color: "red" },
          { value: t.value, color: "green" },
        ];
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

export interface FigureOptions {
  title: string;
  /** One line: what the figure means and how it is computed. */
  definition: string;
  unit: string;
  query: cog.Builder<cog.Dataquery>;
  datasource: common.DataSourceRef;
  thresholds?: Thresholds;
  decimals?: number;
  width?: number;
  height?: number;
}

/** One big number: the last value of the query. */
export function figure(options: FigureOptions): stat.PanelBuilder {
  const panel = new stat.PanelBuilder()
    .title(options.title)
    .description(options.definition)
    .datasource(options.datasource)
    .withTarget(options.query)
    .unit(options.unit)
    .thresholds(thresholds(options.thresholds))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .span(options.width ?? 6)
    .height(options.height ?? 4);
  return options.decimals === undefined ? panel : panel.decimals(options.decimals);
}

export interface TrendOptions {
  title: string;
  definition: string;
  unit: string;
  queries: prometheus.DataqueryBuilder[];
  /** Draw this value as a red dashed line (an objective or a limit). */
  limit?: number;
  width?: number;
  height?: number;
}

/** A time series of one or more Prometheus queries. */
export function trend(options: TrendOptions): timeseries.PanelBuilder {
  const panel = new timeseries.PanelBuilder()
    .title(options.title)
    .description(options.definition)
    .datasource(PROMETHEUS)
    .targets(options.queries)
    .unit(options.unit)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .span(options.width ?? 12)
    .height(options.height ?? 8);
  if (options.limit === undefined) return panel;
  return panel
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: "transparent" },
        { value: options.limit, color: "red" },
      ]),
    )
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
}
