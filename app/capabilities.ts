// What a process can do in this deployment, said once at start. A capability the stacks did not switch
// on (billing, the peer redirect, billing mail, the ops webhook, the failover controller) is not an
// error, but nobody should have to infer it from a missing log line weeks later: each process names
// every optional capability, and for each one that is off the setting that turns it on.
import type { Logger } from "pino";

export interface Capability {
  /** What it does, in the words of the README, e.g. "billing". */
  name: string;
  on: boolean;
  /** When off: why, and which settings turn it on. */
  off: string;
}

export interface CapabilitySettings {
  BILLING?: string;
  RATE_LIMITING?: string;
  REGION_PEER_URL?: string;
  SECRETS_ROTATION_WATCH?: string;
  OPS_DATABASE_URL?: string;
  SMTP_URL?: string;
  OPS_WEBHOOK_URL?: string;
  WORKFLOW_AUTOMATION_URL?: string;
}

export function quoteApiCapabilities(config: CapabilitySettings): Capability[] {
  return [
    {
      name: "billing",
      on: config.BILLING === "on",
      off: "BILLING=off: no checkout, portal or Stripe webhooks; set BILLING=on with STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and BILLING_DATABASE_URL",
    },
    {
      name: "standby redirect",
      on: Boolean(config.REGION_PEER_URL),
      off: "REGION_PEER_URL is not set: while this region is standby, writes get 503 instead of a 307 to the active region",
    },
    {
      name: "secret rotation dates",
      on: Boolean(config.SECRETS_ROTATION_WATCH),
      off: "SECRETS_ROTATION_WATCH is not set: the rotation alerts see only the secrets SECRETS_LAST_ROTATED names",
    },
    {
      name: "ops queries",
      on: Boolean(config.OPS_DATABASE_URL),
      off: "OPS_DATABASE_URL is not set: /metrics carries no agent success or variance figures from the ops queries",
    },
    {
      name: "request rate limits",
      on: config.RATE_LIMITING === "on",
      off: "RATE_LIMITING=off: tenants' requests per second (tenant_rate_limits) and the rate calculator's per-address limit are not enforced; set RATE_LIMITING=on",
    },
  ];
}

export function runnerCapabilities(config: CapabilitySettings): Capability[] {
  return [
    {
      name: "billing notices by email",
      on: Boolean(config.SMTP_URL),
      off: "SMTP_URL is not set: each billing_notice and tenant_notice task fails and raises a billing_alert; set SMTP_URL_FILE (the mounted Secret's file; SMTP_URL in local development) and BILLING_EMAIL_FROM wherever billing is on",
    },
    {
      name: "ops webhook",
      on: Boolean(config.OPS_WEBHOOK_URL),
      off: "OPS_WEBHOOK_URL is not set: notify_ops, billing_alert, limit_increase_requested and data_export_ready go to the log as structured lines only; set OPS_WEBHOOK_URL_FILE (OPS_WEBHOOK_URL in local development)",
    },
    {
      name: "workflow automation",
      on: Boolean(config.WORKFLOW_AUTOMATION_URL),
      off: "WORKFLOW_AUTOMATION_URL is not set: workflow events (carrier invites) go to the log only and no invite email is sent; set WORKFLOW_AUTOMATION_URL and WORKFLOW_AUTOMATION_API_KEY_FILE (the stacks' freight:workflowAutomationUrl)",
    },
  ];
}

export function operatorCapabilities(failoverConfigured: boolean): Capability[] {
  return [
    {
      name: "failover controller",
      on: failoverConfigured,
      off: "no FAILOVER_* settings: RegionFailover objects in this cluster are not reconciled here (the region whose stack deploys the RegionFailover runs it)",
    },
  ];
}

/** One line listing every capability, then one warning per capability that is off. */
export function reportCapabilities(log: Pick<Logger, "info" | "warn">, capabilities: Capability[]): void {
  log.info(
    { capabilities: Object.fromEntries(capabilities.map((c) => [c.name, c.on ? "on" : "off"])) },
    "capabilities",
  );
  for (const c of capabilities) if (!c.on) log.warn({ capability: c.name }, `${c.name} is off: ${c.off}`);
}
