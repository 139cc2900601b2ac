// Observability of one region: the Prometheus operator stack (Prometheus, Alertmanager, Grafana
// with its dashboard and datasource sidecars), the SLO burn-rate rules as a PrometheusRule, the
// dashboards as ConfigMaps the sidecar loads, and PodMonitors that scrape /metrics of the API, the
// runners and the operators. Dashboards and rules are generated from dashboards/ (TypeScript).
// Alertmanager's receivers and Grafana's analytics datasource hold credentials (webhook tokens, the
// freight_ops password), so both files are rendered by External Secrets from Secrets Manager in the
// cluster: no credential passes through Pulumi state or Helm values.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import {
  ALERTMANAGER_CONFIG_KEY,
  ALERTMANAGER_CONFIG_SECRET,
  alertmanagerConfigTemplate,
  SUPPORT_TOKEN_TEMPLATE_KEY,
  WEBHOOK_TEMPLATE_KEYS,
} from "./alertmanager.ts";
import {
  ANALYTICS_DATASOURCE_FILE,
  ANALYTICS_DATASOURCE_SECRET,
  analyticsDatasourceTemplate,
  DATASOURCE_LABEL,
} from "./grafana-datasource.ts";

export const MONITORING_NAMESPACE = "monitoring";
/** The label the Grafana sidecar selects dashboard ConfigMaps by. */
export const DASHBOARD_LABEL = "grafana_dashboard";

export interface ScrapeTarget {
  /** PodMonitor name, e.g. "quote-api". */
  name: string;
  namespace: pulumi.Input<string>;
  matchLabels: Record<string, string>;
  /** Named container port serving /metrics. */
  port: string;
}

export interface MonitoringArgs {
  region: string;
  /** Dashboard JSON by file name (dashboards/index.ts grafanaDashboards()). */
  dashboards: Record<string, unknown>;
  /** PrometheusRule spec (dashboards/index.ts prometheusRuleGroups()). */
  ruleGroups: { groups: unknown[] };
  scrapeTargets: ScrapeTarget[];
  kubePrometheusStackChartVersion: string;
  /** Secrets Manager names of the webhook URLs each severity is delivered to. */
  alertWebhookSecrets: { page: string; ticket: string };
  /** The API's Alertmanager receiver (support tickets) and the Secrets Manager name of its token. */
  supportReceiver: { url: string; tokenSecret: string };
  /** The database Grafana's business panels read, and the secret of the read-only login they use. */
  analyticsDatabase: {
    host: pulumi.Input<string>;
    port: number;
    name: string;
    postgresMajor: number;
    loginSecret: string;
  };
  /** The ClusterSecretStore the ExternalSecrets read through, and what must exist before them. */
  secretStore: { name: string; dependsOn: pulumi.Input<pulumi.Resource>[] };
}

/** ConfigMap names must be DNS labels; "platform-operations.json" -> "dashboard-platform-operations". */
export function dashboardConfigMapName(file: string): string {
  const stem = file
    .replace(/\.json$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `dashboard-${stem}`.slice(0, 63).replace(/-+$/, "");
}

export class Monitoring extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:monitoring:Monitoring", name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: MONITORING_NAMESPACE } },
      { parent: this },
    );
    const stack = new k8s.helm.v3.Release(
      `${name}-kube-prometheus-stack`,
      {
        chart: "kube-prometheus-stack",
        version: args.kubePrometheusStackChartVersion,
        repositoryOpts: { repo: "https://prometheus-community.github.io/helm-charts" },
        namespace: MONITORING_NAMESPACE,
        // The CRDs (PrometheusRule, PodMonitor) come with the chart and must exist before ours.
        skipCrds: false,
        values: {
          prometheus: {
            prometheusSpec: {
              // Pick up every PrometheusRule/PodMonitor, not only those labelled for this release.
              ruleSelectorNilUsesHelmValues: false,
              podMonitorSelectorNilUsesHelmValues: false,
              retention: "15d",
              externalLabels: { region: args.region },
              resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { cpu: "2", memory: "4Gi" } },
            },
          },
          alertmanager: {
            alertmanagerSpec: {
              // The configuration is the Secret External Secrets renders (below), not chart values.
              useExistingSecret: true,
              configSecret: ALERTMANAGER_CONFIG_SECRET,
            },
          },
          grafana: {
            sidecar: {
              dashboards: { enabled: true, label: DASHBOARD_LABEL, labelValue: "1", searchNamespace: "ALL" },
              datasources: { enabled: true, label: DATASOURCE_LABEL, labelValue: "1" },
            },
          },
        },
      },
      { parent: this, dependsOn: [ns] },
    );
    const afterStack = { parent: this, dependsOn: [ns, stack] };
    const afterStore = pulumi
      .output(args.secretStore.dependsOn)
      .apply((deps) => [ns as pulumi.Resource, ...deps]);
    const fromStore = { kind: "ClusterSecretStore", name: args.secretStore.name };

    // Alertmanager's configuration with the receivers' webhook URLs filled in from Secrets Manager.
    new k8s.apiextensions.CustomResource(
      `${name}-alertmanager-config`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: ALERTMANAGER_CONFIG_SECRET, namespace: MONITORING_NAMESPACE },
        spec: {
          refreshInterval: "1h",
          secretStoreRef: fromStore,
          target: {
            name: ALERTMANAGER_CONFIG_SECRET,
            template: {
              engineVersion: "v2",
              data: { [ALERTMANAGER_CONFIG_KEY]: alertmanagerConfigTemplate(args.supportReceiver.url) },
            },
          },
          data: [
            { secretKey: WEBHOOK_TEMPLATE_KEYS.page, remoteRef: { key: args.alertWebhookSecrets.page } },
            { secretKey: WEBHOOK_TEMPLATE_KEYS.ticket, remoteRef: { key: args.alertWebhookSecrets.ticket } },
            { secretKey: SUPPORT_TOKEN_TEMPLATE_KEY, remoteRef: { key: args.supportReceiver.tokenSecret } },
          ],
        },
      },
      { parent: this, dependsOn: afterStore },
    );

    // Grafana's analytics datasource, labelled for the datasource sidecar, logging in as freight_ops.
    const analytics = args.analyticsDatabase;
    new k8s.apiextensions.CustomResource(
      `${name}-analytics-datasource`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: ANALYTICS_DATASOURCE_SECRET, namespace: MONITORING_NAMESPACE },
        spec: {
          refreshInterval: "1h",
          secretStoreRef: fromStore,
          target: {
            name: ANALYTICS_DATASOURCE_SECRET,
            template: {
              engineVersion: "v2",
              metadata: { labels: { [DATASOURCE_LABEL]: "1" } },
              data: {
                [ANALYTICS_DATASOURCE_FILE]: pulumi.output(analytics.host).apply((host) =>
                  analyticsDatasourceTemplate({
                    host,
                    port: analytics.port,
                    database: analytics.name,
                    postgresMajor: analytics.postgresMajor,
                  }),
                ),
              },
            },
          },
          dataFrom: [{ extract: { key: analytics.loginSecret } }],
        },
      },
      { parent: this, dependsOn: afterStore },
    );

    for (const [file, dashboard] of Object.entries(args.dashboards)) {
      new k8s.core.v1.ConfigMap(
        `${name}-${dashboardConfigMapName(file)}`,
        {
          metadata: {
            name: dashboardConfigMapName(file),
            namespace: MONITORING_NAMESPACE,
            labels: { [DASHBOARD_LABEL]: "1" },
          },
          data: { [file]: JSON.stringify(dashboard) },
        },
        { parent: this, dependsOn: [ns] },
      );
    }

    new k8s.apiextensions.CustomResource(
      `${name}-slo-rules`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: { name: "freight-slo-rules", namespace: MONITORING_NAMESPACE },
        spec: args.ruleGroups,
      },
      afterStack,
    );

    for (const target of args.scrapeTargets) {
      new k8s.apiextensions.CustomResource(
        `${name}-scrape-${target.name}`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PodMonitor",
          metadata: { name: target.name, namespace: target.namespace },
          spec: {
            selector: { matchLabels: target.matchLabels },
            podMetricsEndpoints: [{ port: target.port, path: "/metrics", interval: "30s" }],
          },
        },
        afterStack,
      );
    }

    this.namespace = ns.metadata.name;
    this.registerOutputs({ namespace: this.namespace });
  }
}
