// Every query the generated artefacts run, collected from the artefacts themselves (not from the
// builders), so the tests check exactly what Grafana and Prometheus will execute.
import { grafanaDashboards, prometheusRuleGroups } from "./index.ts";
import type { RuleGroup } from "./rules.ts";

export interface PanelQuery {
  dashboard: string;
  panel: string;
  /** PromQL for Prometheus targets, SQL for PostgreSQL targets. */
  expr?: string;
  rawSql?: string;
}

interface PanelJson {
  title?: string;
  targets?: { expr?: string; rawSql?: string }[];
  panels?: PanelJson[];
}

export function dashboardQueries(): PanelQuery[] {
  const queries: PanelQuery[] = [];
  for (const [file, json] of Object.entries(grafanaDashboards())) {
    const visit = (panels: PanelJson[] | undefined) => {
      for (const panel of panels ?? []) {
        for (const target of panel.targets ?? []) {
          queries.push({
            dashboard: file,
            panel: panel.title ?? "(untitled)",
            expr: target.expr,
            rawSql: target.rawSql,
          });
        }
        visit(panel.panels); // panels inside collapsed rows
      }
    };
    visit((json as { panels?: PanelJson[] }).panels);
  }
  return queries;
}

/** Every PromQL expression: dashboard targets and rule expressions, with where each comes from. */
export function promqlExpressions(): { source: string; expr: string }[] {
  const fromDashboards = dashboardQueries()
    .filter((q) => q.expr !== undefined)
    .map((q) => ({ source: `${q.dashboard} / ${q.panel}`, expr: q.expr as string }));
  const fromRules = (prometheusRuleGroups().groups as RuleGroup[]).flatMap((group) =>
    group.rules.map((rule) => ({
      source: `rule group ${group.name} / ${"alert" in rule ? rule.alert : rule.record}`,
      expr: rule.expr,
    })),
  );
  return [...fromDashboards, ...fromRules];
}

/** Names recorded by recording rules (they exist in Prometheus, not in the app's /metrics). */
export function recordedNames(): Set<string> {
  return new Set(
    (prometheusRuleGroups().groups as RuleGroup[]).flatMap((g) =>
      g.rules.flatMap((r) => ("record" in r ? [r.record] : [])),
    ),
  );
}
