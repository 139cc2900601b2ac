// Cross-region values travel only through StackReference outputs with names that say what they
// are. This module lists which outputs each role exports and which it needs from its peer, and
// turns a missing output into an error that says which stack to apply first.
import type * as pulumi from "@pulumi/pulumi";

import { peerRole } from "../app/region.ts";
import type { StackConfig } from "./config.ts";

/** Outputs the primary stack exports for the secondary. */
export const PRIMARY_OUTPUTS_FOR_PEER = [
  "primaryDbArn",
  "databaseServiceRoleSecretArn",
  "databaseOperatorRoleSecretArn",
  "databaseRunnerRoleSecretArn",
  "databaseOwnerRoleSecretArn",
  "databaseOpsRoleSecretArn",
  "llmProviderApiKeySecretArn",
  "workflowAutomationApiKeySecretArn",
  "opsWebhookUrlSecretArn",
  "alertReceiverTokenSecretArn",
  "crmWebhookUrlSecretArn",
  "crmWebhookSecretSecretArn",
  "consoleSessionSecretSecretArn",
] as const;

/** Outputs the secondary stack exports for the primary (the replication destination). */
export const SECONDARY_OUTPUTS_FOR_PEER = ["documentsBucketArn", "documentsKmsKeyArn"] as const;

/**
 * The peer's database, for the failover controller: it promotes one, measures lag on both and fences
 * the old primary of an unplanned flip with the fence security group beside it; and
 * the peer's Route 53 health check, automatic mode's DNS signal about that region.
 */
export const FAILOVER_OUTPUTS_FROM_PRIMARY = [
  "primaryDbArn",
  "primaryDbIdentifier",
  "primaryDbAddress",
  "primaryDbFenceSecurityGroupId",
  "healthCheckId",
] as const;
export const FAILOVER_OUTPUTS_FROM_SECONDARY = [
  "replicaDbArn",
  "replicaDbIdentifier",
  "replicaDbAddress",
  "replicaDbFenceSecurityGroupId",
  "healthCheckId",
] as const;

/** The read canary: the API reads from the other region's database (the replica, or the primary after a flip). */
export const READ_CANARY_OUTPUTS = { primary: "replicaDbAddress", secondary: "primaryDbAddress" } as const;

/** Billing on in the secondary: the primary's billing secrets, whose local replicas it reads. */
export const BILLING_OUTPUTS_FROM_PRIMARY = [
  "stripeSecretKeySecretArn",
  "stripeWebhookSecretSecretArn",
  "databaseBillingRoleSecretArn",
  "billingSmtpUrlSecretArn",
] as const;

export type PeerOutputName =
  | (typeof PRIMARY_OUTPUTS_FOR_PEER)[number]
  | (typeof SECONDARY_OUTPUTS_FOR_PEER)[number]
  | (typeof FAILOVER_OUTPUTS_FROM_PRIMARY)[number]
  | (typeof FAILOVER_OUTPUTS_FROM_SECONDARY)[number]
  | (typeof BILLING_OUTPUTS_FROM_PRIMARY)[number];

/** What this stack must read from its peer before it can register its resources. */
export function neededPeerOutputs(config: StackConfig): PeerOutputName[] {
  const needed = new Set<PeerOutputName>();
  if (config.role === "secondary") PRIMARY_OUTPUTS_FOR_PEER.forEach((o) => needed.add(o));
  if (config.role === "primary" && config.documentsReplication)
    SECONDARY_OUTPUTS_FOR_PEER.forEach((o) => needed.add(o));
  if (config.failover)
    (config.role === "primary" ? FAILOVER_OUTPUTS_FROM_SECONDARY : FAILOVER_OUTPUTS_FROM_PRIMARY).forEach(
      (o) => needed.add(o),
    );
  if (config.readCanary) needed.add(READ_CANARY_OUTPUTS[config.role]);
  if (config.billing && config.role === "secondary")
    BILLING_OUTPUTS_FROM_PRIMARY.forEach((o) => needed.add(o));
  return [...needed];
}

export class PeerOutputMissingError extends Error {
  readonly missing: string[];
  constructor(config: StackConfig, missing: string[]) {
    const peerName = config.peerStack.split("/")[2] ?? config.peerStack;
    const peer = peerRole(config.role);
    const lines = [
      `Stack "${config.stack}" (${config.role}) needs ${missing.join(", ")} from its peer ${config.peerStack}, ` +
        `which has not exported ${missing.length === 1 ? "it" : "them"}.`,
      `Apply the ${peer} stack first: pulumi up --stack ${config.peerStack}`,
    ];
    if (missing.some((m) => (BILLING_OUTPUTS_FROM_PRIMARY as readonly string[]).includes(m))) {
      lines.push(
        `Billing is on in ${config.stack}: turn it on in ${config.peerStack} first (freight:billing on, with its ` +
          `Stripe secrets), or turn it off here (pulumi config set freight:billing off --stack ${config.stack}).`,
      );
    }
    if (config.role === "primary") {
      lines.push(
        `On the very first deployment the secondary does not exist yet: deploy this stack without document ` +
          `replication (pulumi config set freight:documentsReplication false --stack ${config.stack}) ` +
          `and without the read canary (pulumi config set freight:readCanary off --stack ${config.stack}), ` +
          `then ${peerName}, then turn both back on. See docs/deploy.md.`,
      );
    } else {
      lines.push("See docs/deploy.md for the bootstrap order.");
    }
    super(lines.join("\n"));
    this.name = "PeerOutputMissingError";
    this.missing = missing;
  }
}

/** Resolves the needed outputs of the peer stack, failing with one error naming all missing ones. */
export async function readPeerOutputs(
  config: StackConfig,
  reference: pulumi.StackReference,
): Promise<Partial<Record<PeerOutputName, string>>> {
  const needed = neededPeerOutputs(config);
  const values: Partial<Record<PeerOutputName, string>> = {};
  const missing: string[] = [];
  for (const name of needed) {
    const details = await reference.getOutputDetails(name);
    const value = details.value ?? details.secretValue;
    if (typeof value !== "string" || value === "") missing.push(name);
    else values[name] = value;
  }
  if (missing.length > 0) throw new PeerOutputMissingError(config, missing);
  return values;
}
