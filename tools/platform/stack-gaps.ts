// What the region stacks do not deploy yet and the local platform supplies in the meantime (issue
// 14: the stacks are being wired to deploy every capability). Each gap is filled only when the
// manifests lack it, and announced at start, so as the stacks gain a piece its filler here turns
// into a no-op and is deleted. Nothing in this file is a substitution of an endpoint; it is
// configuration the stacks owe, and a reviewer should see it shrink.
import { billingRole, billingRoleBinding, BILLING_ROLE_NAME } from "../../operators/api/rbac.ts";
import { DEFAULT_PLANS, type PlanDefinition } from "../../app/db/plans.ts";
import { METER_NAMES } from "../../operators/api/meters.ts";
import type { Plan } from "../../operators/api/plan.ts";
import { apiVersion, OPERATOR_NAMESPACE } from "../../operators/api/group.ts";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import type { Manifest } from "../../stacks/manifests.ts";
import { LOCAL_STRIPE, type Workload } from "./local-deploy.ts";

/** The one RegionFailover per environment (docs/runbooks/failover.md). */
export const FAILOVER_NAME = "prod";
export const FAILOVER_NAMESPACE = OPERATOR_NAMESPACE;

/**
 * Where the failover controller runs when the stacks do not say: the standby region's operators,
 * so the controller survives the loss of the region it fails over from (the case it exists for).
 */
export const DEFAULT_FAILOVER_REGION: Region = "secondary";

/** The RegionFailover the stacks will deploy: the primary serving, every other field defaulted. */
export function regionFailoverObject(spec: RegionFailoverSpec = { activeRegion: "primary" }): RegionFailover {
  return {
    apiVersion,
    kind: "RegionFailover",
    metadata: { name: FAILOVER_NAME, namespace: FAILOVER_NAMESPACE },
    spec,
  };
}

/** The region whose stack deploys the RegionFailover (the failover controller runs beside it). */
export function failoverRegion(manifests: Record<Region, Manifest[]>): { region: Region; deployed: boolean } {
  for (const region of ["primary", "secondary"] as const)
    if (manifests[region].some((m) => m.kind === "RegionFailover")) return { region, deployed: true };
  return { region: DEFAULT_FAILOVER_REGION, deployed: false };
}

/** The namespace Tenants live in (the app's BILLING_TENANT_NAMESPACE default). */
export const TENANT_NAMESPACE = "tenants";

/** The nightly usage warnings, as the stacks schedule them (infra/workloads batch CronJobs). */
export const USAGE_WARNINGS_CRONJOB = "usage-warnings";
const USAGE_WARNINGS_SECRET = "usage-warnings-database";

/**
 * The usage warnings CronJob in the shape the stacks will deploy it in the active region: the app's
 * namespace, the namespace's default ServiceAccount with no API token (it talks only to the
 * database), `node app/ops/usage-warnings.ts` as freight_operator from its own Secret.
 */
function usageWarningsCronJob(namespace: string): Manifest[] {
  const labels = { "app.kubernetes.io/name": USAGE_WARNINGS_CRONJOB, "app.kubernetes.io/part-of": "freight" };
  return [
    {
      apiVersion: "external-secrets.io/v1beta1",
      kind: "ExternalSecret",
      metadata: { name: USAGE_WARNINGS_SECRET, namespace },
      spec: { target: { name: USAGE_WARNINGS_SECRET } },
    },
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: USAGE_WARNINGS_CRONJOB, namespace, labels },
      spec: {
        schedule: "0 2 * * *",
        timeZone: "Etc/UTC",
        concurrencyPolicy: "Forbid",
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            activeDeadlineSeconds: 1800,
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: "default",
                automountServiceAccountToken: false,
                restartPolicy: "Never",
                containers: [
                  {
                    name: USAGE_WARNINGS_CRONJOB,
                    command: ["node", "app/ops/usage-warnings.ts"],
                    env: [
                      {
                        name: "OPERATOR_DATABASE_URL",
                        valueFrom: {
                          secretKeyRef: { name: USAGE_WARNINGS_SECRET, key: "OPERATOR_DATABASE_URL" },
                        },
                      },
                    ],
                  },
                ],
              },
            },
          },
        },
      },
    },
  ];
}

/** A plan of the catalogue (app/db/plans.ts) as the Plan object the stacks will deploy. */
export function planObject(plan: PlanDefinition): Plan {
  return {
    apiVersion,
    kind: "Plan",
    metadata: { name: plan.id },
    spec: {
      displayName: plan.name,
      rank: plan.rank,
      monthlyPriceCents: plan.monthlyPriceCents,
      meters: METER_NAMES.map((name) => {
        const meter = plan.meters[name];
        return {
          name,
          included: meter.included,
          overageAllowed: meter.overageAllowed,
          ...(meter.overageUnitPriceCents === null
            ? {}
            : { overageUnitPriceCents: meter.overageUnitPriceCents }),
          hardCeiling: meter.hardCeiling,
        };
      }),
      rateLimits: plan.rateLimits,
    },
  };
}

/**
 * Objects the stacks do not deploy yet, for one region: the Plan catalogue (without it a Tenant
 * moved to a paid plan by billing finds no Plan), the tenants' namespace, billing's Role
 * for its Tenant writes (operators/api/rbac.ts), bound to the quote API's ServiceAccount, and in the
 * active (primary) region the nightly usage warnings CronJob.
 */
export function gapObjects(
  region: Region,
  manifests: Manifest[],
  workloads: Workload[],
): { objects: Manifest[]; notes: string[] } {
  const objects: Manifest[] = [];
  const notes: string[] = [];
  const has = (kind: string, name: string) =>
    manifests.some((m) => m.kind === kind && m.metadata.name === name);
  if (!has("Namespace", TENANT_NAMESPACE)) {
    objects.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT_NAMESPACE } });
    notes.push(`${region}: the stacks do not create the ${TENANT_NAMESPACE} namespace; created locally`);
  }
  if (!manifests.some((m) => m.kind === "Plan")) {
    objects.push(...DEFAULT_PLANS.map((plan) => planObject(plan) as unknown as Manifest));
    notes.push(
      `${region}: the stacks deploy no Plan objects; the catalogue (${DEFAULT_PLANS.map((p) => p.id).join(", ")}) applied locally`,
    );
  }
  const api = workloads.find((w) => w.role === "quote-api");
  if (api && !has("Role", BILLING_ROLE_NAME)) {
    objects.push(
      billingRole() as Manifest,
      billingRoleBinding({ namespace: api.namespace, name: api.serviceAccount }) as Manifest,
    );
    notes.push(
      `${region}: the stacks do not grant billing its Role ${BILLING_ROLE_NAME} for Tenant writes; applied locally`,
    );
  }
  const runner = workloads.find((w) => w.role === "runner");
  if (region === "primary" && runner && !has("CronJob", USAGE_WARNINGS_CRONJOB)) {
    objects.push(...usageWarningsCronJob(runner.namespace));
    notes.push(
      `${region}: the stacks do not schedule the ${USAGE_WARNINGS_CRONJOB} CronJob; defined locally (run it with "run-job primary ${USAGE_WARNINGS_CRONJOB}" at the npm start prompt)`,
    );
  }
  return { objects, notes };
}

/** Where the runner's notices go on this machine: the platform's receivers (receivers.ts). */
export interface NoticeWiring {
  opsWebhookUrl: string;
  smtpUrl: string;
}

/** The From of billing notices where the stacks do not set one. */
export const LOCAL_BILLING_EMAIL_FROM = "Freight Billing <billing@freight.localhost>";

/** What the failover controller needs to reach both regions, on this machine. */
export interface FailoverWiring {
  region: Region;
  apiUrls: Record<Region, string>;
  /** Each region's database as a role that may call pg_promote (superuser here) and as freight_operator. */
  adminUrls: Record<Region, string>;
  operatorUrls: Record<Region, string>;
  /** Each region's database as freight_billing (the secondary's on the replica). */
  billingUrls: Record<Region, string>;
  /** The runners' REGION_NAME per region, from the stacks. */
  regionNames: Record<Region, string>;
}

export interface GapFill {
  env: Record<string, string>;
  /** One line per gap filled, for the start banner. */
  notes: string[];
}

/** Environment the stacks do not set yet, added only where the manifest lacks the variable. */
export function fillWorkloadGaps(
  workload: Workload,
  failover: FailoverWiring,
  notices: NoticeWiring,
): GapFill {
  const env: Record<string, string> = {};
  const notes: string[] = [];
  const add = (what: string, values: Record<string, string>) => {
    const missing = Object.entries(values).filter(([name]) => workload.env[name] === undefined);
    if (missing.length === 0) return;
    Object.assign(env, Object.fromEntries(missing));
    notes.push(
      `${workload.region} ${workload.deployment}: the stacks do not set ${missing.map(([n]) => n).join(", ")} (${what}); added locally`,
    );
  };
  const peer: Region = workload.region === "primary" ? "secondary" : "primary";
  if (workload.role === "quote-api") {
    add("a standby region redirects writes to its peer", { REGION_PEER_URL: failover.apiUrls[peer] });
    if (workload.env["BILLING"] === undefined)
      add("billing, against the local Stripe stand-in", {
        BILLING: "on",
        STRIPE_SECRET_KEY: LOCAL_STRIPE.secretKey,
        STRIPE_WEBHOOK_SECRET: LOCAL_STRIPE.webhookSecret,
        BILLING_DATABASE_URL: failover.billingUrls[workload.region],
      });
  }
  if (workload.role === "runner") {
    add("notify_ops and billing alerts reach the ops webhook", { OPS_WEBHOOK_URL: notices.opsWebhookUrl });
    add("billing notices reach customers by mail", {
      SMTP_URL: notices.smtpUrl,
      BILLING_EMAIL_FROM: LOCAL_BILLING_EMAIL_FROM,
    });
  }
  if (
    workload.role === "operators" &&
    workload.region === failover.region &&
    !workload.env["FAILOVER_PRIMARY_HEALTH_URL"]
  ) {
    add("the failover controller", {
      FAILOVER_PRIMARY_HEALTH_URL: `${failover.apiUrls.primary}/readyz`,
      FAILOVER_SECONDARY_HEALTH_URL: `${failover.apiUrls.secondary}/readyz`,
      FAILOVER_PRIMARY_DB_ADMIN_URL: failover.adminUrls.primary,
      FAILOVER_SECONDARY_DB_ADMIN_URL: failover.adminUrls.secondary,
      FAILOVER_PRIMARY_DB_OPERATOR_URL: failover.operatorUrls.primary,
      FAILOVER_SECONDARY_DB_OPERATOR_URL: failover.operatorUrls.secondary,
      FAILOVER_PRIMARY_REGION_NAME: failover.regionNames.primary,
      FAILOVER_SECONDARY_REGION_NAME: failover.regionNames.secondary,
    });
  }
  return { env, notes };
}
