// What the region stacks deploy: dashboards as ConfigMaps for the Grafana sidecar, rule groups as
// the spec of a PrometheusRule. Both are generated from the SLO definitions in slo.ts.
import { executiveDashboard } from "./executive.ts";
import { operationsDashboard } from "./operations.ts";
import { allRuleGroups } from "./rules.ts";

/** Dashboard JSON by file name (the ConfigMap key the Grafana sidecar loads). */
export function grafanaDashboards(): Record<string, unknown> {
  return {
    "executive-overview.json": executiveDashboard(),
    "platform-operations.json": operationsDashboard(),
  };
}

/** Every recording and alerting rule group, in the shape of a PrometheusRule `spec`. */
export function prometheusRuleGroups(): { groups: unknown[] } {
  return { groups: allRuleGroups() };
}
