// Where the alerts go: the Alertmanager configuration of a region, routed by the `severity` label
// every alert of dashboards/rules.ts carries (`page`: wake someone now; `ticket`: work hours) and
// grouped by the `slo` label of the burn-rate alerts. A fast burn (page) mutes the slow-burn ticket
// of the same SLO, so on-call handles one incident once. The webhook URLs carry tokens, so the
// file is an External Secrets template filled from Secrets Manager in the cluster; this module
// only ever sees the template expressions, and the tests render it with a local URL for amtool.
import { yamlTemplate } from "./secret-template.ts";

/** Receiver names, as they appear in the webhook payload (`receiver`) and in amtool's answers. */
export const RECEIVERS = { page: "ops-page", ticket: "ops-ticket", drop: "null" } as const;

/** The Secret the Prometheus operator reads Alertmanager's configuration from (key alertmanager.yaml). */
export const ALERTMANAGER_CONFIG_SECRET = "alertmanager-freight-config";
export const ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml";

/** The key of each receiver's URL in the ExternalSecret's data (a Go template variable). */
export const WEBHOOK_TEMPLATE_KEYS = { page: "pageWebhookUrl", ticket: "ticketWebhookUrl" } as const;
/** The key of the support receiver's bearer token (ALERT_RECEIVER_TOKEN on the API side). */
export const SUPPORT_TOKEN_TEMPLATE_KEY = "alertReceiverToken";

/**
 * Every page and ticket also goes to the quote API's support receiver (app/routes/support.ts), which
 * keeps one support ticket per alert group: opened when the group fires, resolved with it.
 */
export interface SupportReceiver {
  url: string;
  token: string;
}

function supportWebhook(support: SupportReceiver): Record<string, unknown> {
  return {
    url: support.url,
    send_resolved: true,
    // A storm is one group with many alerts: the ticket needs the count, not every alert's labels.
    max_alerts: 50,
    http_config: { authorization: { type: "Bearer", credentials: support.token } },
  };
}

const SEVERITY = (s: string) => `severity="${s}"`;
/** Only alerts that belong to an SLO: two alerts both without `slo` would otherwise count as "equal". */
const HAS_SLO = 'slo=~".+"';

/** The Alertmanager configuration as an object, with the receivers' webhook URLs given. */
export function alertmanagerConfig(
  urls: { page: string; ticket: string },
  support: SupportReceiver,
): Record<string, unknown> {
  return {
    route: {
      // Anything without a known severity still reaches a human, as a ticket.
      receiver: RECEIVERS.ticket,
      group_by: ["alertname", "region", "slo"],
      group_wait: "1m",
      group_interval: "5m",
      repeat_interval: "12h",
      routes: [
        // kube-prometheus-stack's always-firing Watchdog and InfoInhibitor exist to be dropped here.
        { receiver: RECEIVERS.drop, matchers: ['alertname=~"Watchdog|InfoInhibitor"'] },
        {
          receiver: RECEIVERS.page,
          matchers: [SEVERITY("page")],
          // A page is worth 30 s of grouping, not more; unresolved, it re-pages every 4 h.
          group_wait: "30s",
          group_interval: "5m",
          repeat_interval: "4h",
        },
        {
          receiver: RECEIVERS.ticket,
          matchers: [SEVERITY("ticket")],
          // Tickets batch for 5 min, and a still-open one is reminded once a day.
          group_wait: "5m",
          group_interval: "30m",
          repeat_interval: "24h",
        },
        // The chart's own cluster rules (severity critical/warning) as tickets; info is noise.
        { receiver: RECEIVERS.drop, matchers: [SEVERITY("info")] },
        { receiver: RECEIVERS.ticket, matchers: ['severity=~"critical|warning"'] },
      ],
    },
    inhibit_rules: [
      {
        // A fast burn pages; the slow-burn ticket of the same SLO in the same region says nothing new.
        source_matchers: [SEVERITY("page"), HAS_SLO],
        target_matchers: [SEVERITY("ticket"), HAS_SLO],
        equal: ["slo", "region"],
      },
      {
        // kube-prometheus-stack's convention for its own rules: critical mutes the warning of the same alert.
        source_matchers: [SEVERITY("critical")],
        target_matchers: [SEVERITY("warning")],
        equal: ["namespace", "alertname"],
      },
    ],
    receivers: [
      { name: RECEIVERS.drop },
      {
        name: RECEIVERS.page,
        webhook_configs: [{ url: urls.page, send_resolved: true }, supportWebhook(support)],
      },
      {
        name: RECEIVERS.ticket,
        webhook_configs: [{ url: urls.ticket, send_resolved: true }, supportWebhook(support)],
      },
    ],
  };
}

/**
 * alertmanager.yaml as an External Secrets template: the URLs are template expressions over the
 * ExternalSecret's data keys (WEBHOOK_TEMPLATE_KEYS), filled in the cluster from Secrets Manager, and
 * so is the support receiver's token; its URL (the region's API Service) is not a secret.
 */
export function alertmanagerConfigTemplate(supportReceiverUrl: string): string {
  const { page, ticket } = WEBHOOK_TEMPLATE_KEYS;
  const token = SUPPORT_TOKEN_TEMPLATE_KEY;
  return yamlTemplate([page, ticket, token], (value) =>
    alertmanagerConfig(
      { page: value[page], ticket: value[ticket] },
      { url: supportReceiverUrl, token: value[token] },
    ),
  );
}
