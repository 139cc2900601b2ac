// The region program: one function for both roles. The primary and secondary differ only where
// the role says so (database shape, documents replication, secrets ownership, DNS failover type).
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { Cluster } from "../infra/cluster/cluster.ts";
import { LoadBalancerController } from "../infra/cluster/load-balancer-controller.ts";
import { Database, DATABASE_NAME, DATABASE_PORT } from "../infra/database/database.ts";
import { peerRole, type RegionRole } from "../app/region.ts";
import { ApiCertificate, apiHostname, RegionDns, regionalHostname } from "../infra/dns/dns.ts";
import { Documents } from "../infra/documents/documents.ts";
import { Edge } from "../infra/edge/edge.ts";
import { grafanaDashboards, prometheusRuleGroups } from "../dashboards/index.ts";
import { Monitoring, MONITORING_NAMESPACE } from "../infra/monitoring/monitoring.ts";
import { Network } from "../infra/network/network.ts";
import { ClusterAutoscaler } from "../infra/cluster/cluster-autoscaler.ts";
import { rotationWatchList, SECRET_NAMES, SECRETS_USED, Secrets } from "../infra/secrets/secrets.ts";
import type { ScheduledTask } from "../infra/workloads/batch.ts";
import { BATCH_WORKLOADS, IsolationProbe, ScheduledJobs, SchemaMigration } from "../infra/workloads/batch.ts";
import { DATABASE_URL_KEY, ExternalSecrets, SECRET_STORE } from "../infra/workloads/external-secrets.ts";
import { secretFile } from "../infra/workloads/pod-spec.ts";
import type { FailoverRegion, FailoverSettings } from "../infra/workloads/failover.ts";
import { FAILOVER_DATABASES_SECRET, failoverDatabaseKey } from "../infra/workloads/failover.ts";
import { QUOTE_API_REPOSITORY, workloadImage } from "../infra/workloads/images.ts";
import { APP_NAMESPACE, Namespaces } from "../infra/workloads/namespaces.ts";
import { NetworkPolicies } from "../infra/workloads/network-policies.ts";
import { PlanCatalogue } from "../infra/workloads/plan-catalogue.ts";
import { DEFAULT_PLANS } from "../app/db/plans.ts";
import { loadOperatorManifests, operatorAccount } from "../infra/workloads/operator-manifests.ts";
import { OPERATOR_LABELS, Operators, OPERATORS_DATABASE_SECRET } from "../infra/workloads/operators.ts";
import {
  ALERT_RECEIVER_SECRET,
  alertReceiverUrl,
  API_DATABASE_SECRET,
  API_LABELS,
  API_OPS_DATABASE_SECRET,
  BILLING_DATABASE_SECRET,
  BILLING_DATABASE_URL_KEY,
  QuoteApi,
  READ_CANARY_DATABASE_URL_KEY,
  STRIPE_SECRET,
  CONSOLE_SESSION_SECRET,
} from "../infra/workloads/quote-api.ts";
import {
  API_KEYS_SECRET,
  BILLING_MAIL_SECRET,
  OPS_WEBHOOK_SECRET,
  Runner,
  RUNNER_DATABASE_SECRET,
  RUNNER_LABELS,
} from "../infra/workloads/runner.ts";
import {
  BILLING_ROLE_NAME,
  billingRoleBinding,
  SIGNUP_ROLE_NAME,
  signupRoleBinding,
  TENANTS_NAMESPACE,
} from "../operators/api/rbac.ts";
import { EvidenceAccess } from "../infra/workloads/evidence-access.ts";
import { SUPPLY_CHAIN_PREFIX } from "../app/compliance/supply-chain-reports.ts";
import { PricingBacktestAccess } from "../infra/workloads/pricing-backtest-access.ts";
import { PRICING_MODELS_NAMESPACE } from "../app/ops/pricing-backtest.ts";
import type { StackConfig } from "./config.ts";
import type { PeerOutputName } from "./peer.ts";
import { READ_CANARY_OUTPUTS, readPeerOutputs } from "./peer.ts";

/** Secrets of the Jobs, each a single login (infra/workloads/batch.ts). */
const MIGRATIONS_DATABASE_SECRET = "migrations-database";
const USAGE_WARNINGS_DATABASE_SECRET = "usage-warnings-database";
const EXEC_REPORT_DATABASE_SECRET = "exec-report-database";
const ONBOARDING_DATABASE_SECRET = "onboarding-nudges-database";
const LEAD_SIGNALS_DATABASE_SECRET = "lead-signals-database";
const NPS_DATABASE_SECRET = "nps-invitations-database";
const CARRIER_COMPLIANCE_DATABASE_SECRET = "carrier-compliance-database";
/** The CRM webhook's URL and signing secret, for the lead-signal job. */
const CRM_WEBHOOK_SECRET = "crm-webhook";
/** The evidence job's two logins: the operators' (stores the snapshot) and the app's (the isolation probe). */
const EVIDENCE_DATABASE_SECRET = "evidence-database";
const EVIDENCE_PROBE_DATABASE_SECRET = "evidence-probe-database";
/** ... and the ops login (freight_ops) on the analytics replica: the registers, and the proof it is one. */
const EVIDENCE_OPS_DATABASE_SECRET = "evidence-ops-database";
/** The evidence job's account: lists RBAC bindings cluster-wide, reads rotation dates through IRSA. */
const EVIDENCE_SERVICE_ACCOUNT = "evidence";
const DSR_DRILL_DATABASE_SECRET = "dsr-drill-database";
const PRICING_BACKTEST_DATABASE_SECRET = "pricing-backtest-database";
/** The pricing backtest's account: get/list PricingModels where they live, nothing else. */
const PRICING_BACKTEST_SERVICE_ACCOUNT = "pricing-backtest";
/** The trial expiry job's account: billing's Role (Tenant get/patch in the tenants' namespace), nothing else. */
const TRIAL_EXPIRY_SERVICE_ACCOUNT = "trial-expiry";
/** The Prometheus the monitoring stack runs (the operator's governing Service of every Prometheus). */
const PROMETHEUS_URL = `http://prometheus-operated.${MONITORING_NAMESPACE}.svc:9090`;

export interface ProgramOptions {
  /** Repository root; relative paths in config (operator manifests) resolve against it. */
  root: string;
}

/** Tags every taggable AWS resource gets through the provider's defaultTags. */
export function requiredTags(config: StackConfig): Record<string, string> {
  return {
    owner: config.owner,
    "data-classification": config.dataClassification,
    "region-role": config.role,
    project: "freight-platform",
    stack: config.stack,
  };
}

export function edgeLogBucketName(config: Pick<StackConfig, "domain">): string {
  return `${config.domain.replace(/\./g, "-")}-edge-logs`;
}

/** CloudFront reads certificates only from us-east-1. */
export const CLOUDFRONT_CERTIFICATE_REGION = "us-east-1";

/**
 * The edge's certificate: the region's own when the stack runs in us-east-1 (prod-primary does),
 * else a second certificate for the same names in us-east-1, through a provider of that region
 * (the residency policy must then allow us-east-1 for this stack: docs/deploy.md).
 */
function edgeCertificateArn(config: StackConfig, regional: ApiCertificate): pulumi.Output<string> {
  if (config.region === CLOUDFRONT_CERTIFICATE_REGION) return regional.arn;
  const usEast1 = new aws.Provider("aws-cloudfront-certificates", {
    region: CLOUDFRONT_CERTIFICATE_REGION,
    defaultTags: { tags: requiredTags(config) },
  });
  return new ApiCertificate(
    "edge-certificate",
    { domain: config.domain, hostedZoneId: config.hostedZoneId },
    { providers: [usEast1] },
  ).arn;
}

export function documentsBucketName(config: Pick<StackConfig, "domain" | "region">): string {
  return `${config.domain.replace(/\./g, "-")}-documents-${config.region}`;
}

/** Where CI publishes the supply-chain reports (npm run supply-chain:publish) and the evidence reads them. */
export function supplyChainReportsUri(config: Pick<StackConfig, "domain" | "region">): string {
  return `s3://${documentsBucketName(config)}/${SUPPLY_CHAIN_PREFIX}`;
}

/** The platform's scheduled work (times in UTC), each with only the login it needs. */
function scheduledTasks(config: StackConfig): ScheduledTask[] {
  const tasks: ScheduledTask[] = [
    {
      name: BATCH_WORKLOADS.usageWarnings,
      schedule: "0 2 * * *",
      command: ["node", "app/ops/usage-warnings.ts"],
      env: [],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", USAGE_WARNINGS_DATABASE_SECRET)],
      deadlineSeconds: 1800,
    },
    {
      // Hourly: a tenant is nudged within an hour of its 24th without a quote, once.
      name: BATCH_WORKLOADS.onboardingNudges,
      schedule: "15 * * * *",
      command: ["node", "app/ops/onboarding-nudges.ts"],
      env: [],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", ONBOARDING_DATABASE_SECRET)],
      deadlineSeconds: 900,
    },
    {
      // Every 10 minutes: sales hears of a tenant within 10 minutes of its crossing, and a CRM
      // outage is retried each run (app/growth/lead-signals.ts backs off up to an hour per signal).
      name: BATCH_WORKLOADS.leadSignals,
      schedule: "*/10 * * * *",
      command: ["node", "app/ops/lead-signals.ts"],
      env: [],
      secretFiles: [
        secretFile("OPERATOR_DATABASE_URL", LEAD_SIGNALS_DATABASE_SECRET),
        secretFile("CRM_WEBHOOK_URL", CRM_WEBHOOK_SECRET),
        secretFile("CRM_WEBHOOK_SECRET", CRM_WEBHOOK_SECRET),
      ],
      deadlineSeconds: 540,
    },
    {
      // Hourly: a tenant is asked within an hour of reaching trial day 21 or paid day 90, once per
      // milestone; the email is a tenant_notice agent task the runner sends (app/growth/nps.ts).
      name: BATCH_WORKLOADS.npsInvitations,
      schedule: "40 * * * *",
      command: ["node", "app/growth/nps-invitations.ts"],
      env: [],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", NPS_DATABASE_SECRET)],
      deadlineSeconds: 900,
    },
    {
      // Daily, early morning in the US: reminders count days to expiry, so once a day sends each
      // threshold on its day (app/growth/carrier-compliance.ts); a missed day sends the most urgent.
      name: BATCH_WORKLOADS.carrierCompliance,
      schedule: "30 11 * * *",
      command: ["node", "app/growth/carrier-compliance-job.ts"],
      env: [],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", CARRIER_COMPLIANCE_DATABASE_SECRET)],
      deadlineSeconds: 900,
    },
    {
      // Monthly, on the 1st: a seeded subject's access and erasure through the runner, with the
      // on-time rate and completeness in the job's log; a failed drill fails the run.
      name: BATCH_WORKLOADS.dsrDrill,
      schedule: "0 5 1 * *",
      command: ["node", "app/compliance/dsr-cli.ts", "drill", "--timeout", "1200"],
      env: [],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", DSR_DRILL_DATABASE_SECRET)],
      deadlineSeconds: 1800,
    },
    {
      name: BATCH_WORKLOADS.execReport,
      schedule: "0 6 * * 1",
      // HTML only: the report is self-contained; the app image is not assumed to carry Chromium.
      command: [
        "node",
        "dashboards/report/main.ts",
        "--prometheus-url",
        PROMETHEUS_URL,
        "--out",
        "/reports",
        "--no-pdf",
      ],
      env: [],
      secretFiles: [secretFile("OPS_DATABASE_URL", EXEC_REPORT_DATABASE_SECRET)],
      deadlineSeconds: 1800,
      output: { mountPath: "/reports", size: "1Gi" },
    },
    {
      // Weekly, before the executive report: the SOC 2 evidence snapshot, chained to last week's.
      name: BATCH_WORKLOADS.evidence,
      schedule: "0 5 * * 1",
      command: ["node", "app/compliance/evidence.ts"],
      env: [
        { name: "SECRETS_ROTATION_WATCH", value: rotationWatchList(config.billing) },
        { name: "AWS_REGION", value: config.region },
        // CI's SBOM and OSV report, as `npm run supply-chain:publish` leaves them in this region's
        // documents bucket (read-only on exactly that prefix: infra/workloads/evidence-access.ts).
        { name: "EVIDENCE_SUPPLY_CHAIN_S3_URI", value: supplyChainReportsUri(config) },
        { name: "KUBERNETES_API", value: "in-cluster" },
      ],
      secretFiles: [
        secretFile("DATABASE_URL", EVIDENCE_DATABASE_SECRET),
        secretFile("RLS_PROBE_DATABASE_URL", EVIDENCE_PROBE_DATABASE_SECRET),
        secretFile("OPS_DATABASE_URL", EVIDENCE_OPS_DATABASE_SECRET),
      ],
      deadlineSeconds: 900,
      serviceAccountName: EVIDENCE_SERVICE_ACCOUNT,
    },
    {
      // Weekly, after the week's settlements are in: each PricingModel's challenger (the version a
      // promotion would put in front of every tenant, so the one whose backtest the controller asks
      // for), or its champion when no experiment runs (drift of the version serving everyone shows
      // the week it starts). Four weeks of settled bookings; a failed guardrail fails the run.
      name: BATCH_WORKLOADS.pricingBacktest,
      schedule: "0 4 * * 1",
      command: ["node", "app/ops/pricing-backtest.ts", "--scheduled", "--weeks", "4"],
      env: [
        { name: "PRICING_MODEL_NAMESPACE", value: PRICING_MODELS_NAMESPACE },
        { name: "KUBERNETES_API", value: "in-cluster" },
      ],
      secretFiles: [secretFile("OPERATOR_DATABASE_URL", PRICING_BACKTEST_DATABASE_SECRET)],
      deadlineSeconds: 1800,
      serviceAccountName: PRICING_BACKTEST_SERVICE_ACCOUNT,
    },
  ];
  if (config.billing) {
    const billingSecrets = [
      secretFile("BILLING_DATABASE_URL", BILLING_DATABASE_SECRET),
      secretFile("STRIPE_SECRET_KEY", STRIPE_SECRET),
    ];
    tasks.push(
      {
        // The month so far, every night: a drift shows within a day.
        name: BATCH_WORKLOADS.billingReconcileDaily,
        schedule: "30 3 * * *",
        command: ["node", "app/billing/reconcile.ts"],
        env: [],
        secretFiles: billingSecrets,
        deadlineSeconds: 3600,
      },
      {
        // The month that closed, once Stripe has every late meter event of it.
        name: BATCH_WORKLOADS.billingReconcileMonthly,
        schedule: "0 6 2 * *",
        command: ["node", "app/billing/reconcile.ts", "--month", "previous"],
        env: [],
        secretFiles: billingSecrets,
        deadlineSeconds: 3600,
      },
      {
        // Every 15 minutes: a trial ends within a quarter hour of trial_ends_at.
        name: BATCH_WORKLOADS.trialExpiry,
        schedule: "*/15 * * * *",
        command: ["node", "app/billing/trial-expiry.ts"],
        secretFiles: billingSecrets,
        env: [
          { name: "BILLING_TENANT_NAMESPACE", value: TENANTS_NAMESPACE },
          // Tenant writes as the job's ServiceAccount, bound to billing's Role.
          { name: "KUBERNETES_API", value: "in-cluster" },
        ],
        deadlineSeconds: 900,
        serviceAccountName: TRIAL_EXPIRY_SERVICE_ACCOUNT,
      },
    );
  }
  return tasks;
}

/** Both regions' databases and the drivers, for the failover controller this region runs. */
function failoverSettings(
  config: StackConfig,
  database: Database,
  peer: Partial<Record<PeerOutputName, string>>,
  healthCheckId: pulumi.Output<string>,
): pulumi.Output<FailoverSettings> {
  const peerRegion: FailoverRegion =
    config.role === "primary"
      ? {
          awsRegion: config.peerRegion,
          dbArn: peer.replicaDbArn!,
          dbIdentifier: peer.replicaDbIdentifier!,
          dbAddress: peer.replicaDbAddress!,
          fenceSecurityGroupId: peer.replicaDbFenceSecurityGroupId!,
          healthCheckId: peer.healthCheckId!,
        }
      : {
          awsRegion: config.peerRegion,
          dbArn: peer.primaryDbArn!,
          dbIdentifier: peer.primaryDbIdentifier!,
          dbAddress: peer.primaryDbAddress!,
          fenceSecurityGroupId: peer.primaryDbFenceSecurityGroupId!,
          healthCheckId: peer.healthCheckId!,
        };
  return pulumi
    .all([
      database.arn,
      database.instanceIdentifier,
      database.address,
      database.fenceSecurityGroupId,
      healthCheckId,
    ])
    .apply(([dbArn, dbIdentifier, dbAddress, fenceSecurityGroupId, localHealthCheckId]) => {
      // Every unplanned flip fences the old primary first, manual ones as well as automatic ones,
      // with the fence group each region's stack creates beside its database.
      const local: FailoverRegion = {
        awsRegion: config.region,
        dbArn,
        dbIdentifier,
        dbAddress,
        fenceSecurityGroupId,
        healthCheckId: localHealthCheckId,
      };
      return {
        automatic: config.failoverAutomatic,
        domain: config.domain,
        hostedZoneId: config.hostedZoneId,
        // crossChecks guarantee both when failover is on.
        databaseDriver: config.failoverDatabaseDriver!,
        trafficDriver: config.failoverTrafficDriver!,
        regions:
          config.role === "primary"
            ? { primary: local, secondary: peerRegion }
            : { primary: peerRegion, secondary: local },
      };
    });
}

export async function regionStack(
  config: StackConfig,
  options: ProgramOptions,
): Promise<Record<string, pulumi.Input<unknown>>> {
  // Read everything that can fail for a local reason before registering a single resource.
  const operatorManifests = loadOperatorManifests(config.operatorManifestsDir, options.root);

  const peer = new pulumi.StackReference("peer", { name: config.peerStack });
  const peerOutputs = await readPeerOutputs(config, peer);

  // An explicit provider per stack: region and required tags come from validated config, never
  // from whatever AWS_REGION the operator's shell happens to have.
  const awsProvider = new aws.Provider("aws", {
    region: config.region as aws.Region,
    defaultTags: { tags: requiredTags(config) },
  });
  const awsOnly = { providers: [awsProvider] };
  const clusterName = `freight-${config.region}`;

  const network = new Network(
    "network",
    {
      region: config.region,
      cidrBlock: config.vpcCidr,
      clusterName,
      natGatewayPerAz: config.natGatewaysPerAz,
    },
    awsOnly,
  );

  const cluster = new Cluster(
    "cluster",
    {
      name: clusterName,
      region: config.region,
      version: config.clusterVersion,
      vpcId: network.vpcId,
      privateSubnetIds: network.privateSubnetIds,
      publicAccessCidrs: config.clusterPublicAccessCidrs,
      appNodes: { instanceType: config.appNodeInstanceType, min: config.appNodeMin, max: config.appNodeMax },
      runnerNodes: {
        instanceType: config.runnerNodeInstanceType,
        min: config.runnerNodeMin,
        max: config.runnerNodeMax,
      },
    },
    awsOnly,
  );

  const database = new Database(
    "database",
    {
      role: config.role,
      identifier: `freight-${config.region}`,
      vpcId: network.vpcId,
      privateSubnetIds: network.privateSubnetIds,
      clientSecurityGroupId: cluster.clusterSecurityGroupId,
      instanceClass: config.dbInstanceClass,
      engineVersion: config.dbEngineVersion,
      allocatedStorageGb: config.dbAllocatedStorageGb,
      maxAllocatedStorageGb: config.dbMaxAllocatedStorageGb,
      backupRetentionDays: config.dbBackupRetentionDays,
      multiAz: config.dbMultiAz,
      analyticsReplicaInstanceClass: config.analyticsReplicaInstanceClass,
      sourceDbArn: peerOutputs.primaryDbArn,
    },
    awsOnly,
  );

  const peerLocation = { domain: config.domain, region: config.peerRegion };
  const documents = new Documents(
    "documents",
    {
      bucketName: documentsBucketName(config),
      readReplicaFrom: { bucketName: documentsBucketName(peerLocation), region: config.peerRegion },
      lifecycle: {
        archiveAfterDays: config.documentsArchiveAfterDays,
        archiveStorageClass: config.documentsArchiveStorageClass,
        noncurrentVersionExpireDays: config.documentsNoncurrentVersionExpireDays,
      },
      replicateTo:
        config.role === "primary" && config.documentsReplication
          ? { bucketArn: peerOutputs.documentsBucketArn!, kmsKeyArn: peerOutputs.documentsKmsKeyArn! }
          : undefined,
    },
    awsOnly,
  );

  const secrets = new Secrets(
    "secrets",
    config.role === "primary"
      ? {
          role: "primary",
          region: config.region,
          replicaRegion: config.peerRegion,
          rotationLambdaArn: config.secretRotationLambdaArn,
          database: {
            host: database.address,
            port: DATABASE_PORT,
            dbname: DATABASE_NAME,
            masterSecretArn: database.masterUserSecretArn!,
          },
          // crossChecks require both when billing is on in the primary.
          ...(config.billing
            ? { stripe: { secretKey: config.stripeSecretKey!, webhookSecret: config.stripeWebhookSecret! } }
            : {}),
        }
      : {
          role: "secondary",
          region: config.region,
          primarySecretArns: {
            databaseServiceRole: peerOutputs.databaseServiceRoleSecretArn!,
            databaseOperatorRole: peerOutputs.databaseOperatorRoleSecretArn!,
            databaseRunnerRole: peerOutputs.databaseRunnerRoleSecretArn!,
            databaseOwnerRole: peerOutputs.databaseOwnerRoleSecretArn!,
            databaseOpsRole: peerOutputs.databaseOpsRoleSecretArn!,
            llmProviderApiKey: peerOutputs.llmProviderApiKeySecretArn!,
            workflowAutomationApiKey: peerOutputs.workflowAutomationApiKeySecretArn!,
            opsWebhookUrl: peerOutputs.opsWebhookUrlSecretArn!,
            alertReceiverToken: peerOutputs.alertReceiverTokenSecretArn!,
            crmWebhookUrl: peerOutputs.crmWebhookUrlSecretArn!,
            crmWebhookSecret: peerOutputs.crmWebhookSecretSecretArn!,
            consoleSessionSecret: peerOutputs.consoleSessionSecretSecretArn!,
            ...(config.billing
              ? {
                  stripeSecretKey: peerOutputs.stripeSecretKeySecretArn!,
                  stripeWebhookSecret: peerOutputs.stripeWebhookSecretSecretArn!,
                  databaseBillingRole: peerOutputs.databaseBillingRoleSecretArn!,
                  billingSmtpUrl: peerOutputs.billingSmtpUrlSecretArn!,
                }
              : {}),
          },
        },
    awsOnly,
  );

  const certificate = new ApiCertificate(
    "api-certificate",
    { domain: config.domain, hostedZoneId: config.hostedZoneId },
    awsOnly,
  );

  const k8sProvider = new k8s.Provider("cluster", {
    kubeconfig: cluster.kubeconfig,
    // Field ownership lets the operators co-own objects without fighting `pulumi up`.
    enableServerSideApply: true,
  });
  const inCluster = { providers: [awsProvider, k8sProvider] };

  const loadBalancerController = new LoadBalancerController(
    "load-balancer-controller",
    {
      clusterName: cluster.name,
      region: config.region,
      vpcId: network.vpcId,
      oidcProviderArn: cluster.oidcProviderArn,
      oidcIssuer: cluster.oidcIssuer,
      chartVersion: config.loadBalancerControllerChartVersion,
    },
    inCluster,
  );

  const namespaces = new Namespaces(
    "namespaces",
    { generated: operatorManifests.rbac.filter((m) => m.kind === "Namespace") },
    inCluster,
  );
  const operatorsNamespace = operatorAccount(operatorManifests).namespace;
  // This region's health check is created with its DNS below (it probes the API's load balancer,
  // which the workloads create); the failover controller's settings name it before that.
  const [localHealthCheckId, resolveLocalHealthCheckId] = pulumi.deferredOutput<string>();
  const failover = config.failover
    ? failoverSettings(config, database, peerOutputs, localHealthCheckId)
    : undefined;
  // Migrations, the post-deploy probe and the scheduled work write: they run where writes go.
  const active = config.role === config.activeRegion;
  // Default-deny in every platform namespace, and exactly the flows of infra/workloads/network-flows.ts.
  new NetworkPolicies(
    "network-policies",
    {
      namespaces,
      operatorsNamespace,
      vpcCidr: config.vpcCidr,
      context: { billing: config.billing, failover: config.failover, active, readCanary: config.readCanary },
    },
    inCluster,
  );
  const externalSecrets = new ExternalSecrets(
    "external-secrets",
    {
      region: config.region,
      chartVersion: config.externalSecretsChartVersion,
      oidcProviderArn: cluster.oidcProviderArn,
      oidcIssuer: cluster.oidcIssuer,
      secretsReadPolicyArn: secrets.readPolicyArn,
      namespaces,
      readerNamespace: APP_NAMESPACE,
      database: { host: database.address, port: DATABASE_PORT, name: DATABASE_NAME },
      databaseUrls: [
        {
          name: API_DATABASE_SECRET,
          namespace: APP_NAMESPACE,
          login: "databaseServiceRole",
          // The read canary reads the other region's database with the same login (it replicates).
          ...(config.readCanary
            ? {
                hosts: {
                  [DATABASE_URL_KEY]: database.address,
                  [READ_CANARY_DATABASE_URL_KEY]: peerOutputs[READ_CANARY_OUTPUTS[config.role]]!,
                },
              }
            : {}),
        },
        { name: RUNNER_DATABASE_SECRET, namespace: APP_NAMESPACE, login: "databaseRunnerRole" },
        { name: OPERATORS_DATABASE_SECRET, namespace: operatorsNamespace, login: "databaseOperatorRole" },
        // The API's aggregate gauges (replication lag against the RPO, queue depth and age, tenants at
        // each warning level) read across tenants, read-only.
        {
          name: API_OPS_DATABASE_SECRET,
          namespace: APP_NAMESPACE,
          login: "databaseOpsRole",
          // Like Grafana and the report, on the analytics replica (the secondary: its standby replica,
          // whose replay lag against the primary is the figure the RPO alert watches).
          hosts: { OPS_DATABASE_URL: database.analyticsReplicaAddress ?? database.address },
        },
        ...(config.billing
          ? [
              {
                name: BILLING_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseBillingRole" as const,
                hosts: { [BILLING_DATABASE_URL_KEY]: database.address },
              },
            ]
          : []),
        ...(active
          ? [
              {
                name: MIGRATIONS_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOwnerRole" as const,
                hosts: { MIGRATIONS_DATABASE_URL: database.address },
              },
              {
                name: USAGE_WARNINGS_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: ONBOARDING_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: LEAD_SIGNALS_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: NPS_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: CARRIER_COMPLIANCE_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: DSR_DRILL_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: PRICING_BACKTEST_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { OPERATOR_DATABASE_URL: database.address },
              },
              {
                name: EVIDENCE_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOperatorRole" as const,
                hosts: { DATABASE_URL: database.address },
              },
              {
                name: EVIDENCE_PROBE_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseServiceRole" as const,
                hosts: { RLS_PROBE_DATABASE_URL: database.address },
              },
              {
                name: EVIDENCE_OPS_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOpsRole" as const,
                // freight_ops is refused on a primary (migration 0035): the analytics replica, as for
                // the report below.
                hosts: { OPS_DATABASE_URL: database.analyticsReplicaAddress ?? database.address },
              },
              {
                name: EXEC_REPORT_DATABASE_SECRET,
                namespace: APP_NAMESPACE,
                login: "databaseOpsRole" as const,
                // Reporting reads the analytics replica where this region has one, never the writer.
                hosts: { OPS_DATABASE_URL: database.analyticsReplicaAddress ?? database.address },
              },
            ]
          : []),
        ...(failover
          ? [
              {
                name: FAILOVER_DATABASES_SECRET,
                namespace: operatorsNamespace,
                login: "databaseOperatorRole" as const,
                hosts: {
                  [failoverDatabaseKey("primary")]: failover.apply((f) => f.regions.primary.dbAddress),
                  [failoverDatabaseKey("secondary")]: failover.apply((f) => f.regions.secondary.dbAddress),
                },
              },
            ]
          : []),
      ],
      keys: [
        {
          name: API_KEYS_SECRET,
          namespace: APP_NAMESPACE,
          keys: { LLM_API_KEY: "llmProviderApiKey", WORKFLOW_AUTOMATION_API_KEY: "workflowAutomationApiKey" },
        },
        // Where the runner delivers notify_ops, billing_alert and data_export_ready: the same webhook
        // Alertmanager pages and tickets to (its URL carries the receiver's token).
        { name: OPS_WEBHOOK_SECRET, namespace: APP_NAMESPACE, keys: { OPS_WEBHOOK_URL: "opsWebhookUrl" } },
        // The token the API's Alertmanager receiver checks (the same secret fills Alertmanager's side).
        {
          name: ALERT_RECEIVER_SECRET,
          namespace: APP_NAMESPACE,
          keys: { ALERT_RECEIVER_TOKEN: "alertReceiverToken" },
        },
        // Where the lead-signal job delivers, and what it signs with.
        {
          name: CRM_WEBHOOK_SECRET,
          namespace: APP_NAMESPACE,
          keys: { CRM_WEBHOOK_URL: "crmWebhookUrl", CRM_WEBHOOK_SECRET: "crmWebhookSecret" },
        },
        {
          name: CONSOLE_SESSION_SECRET,
          namespace: APP_NAMESPACE,
          keys: { CONSOLE_SESSION_SECRET: "consoleSessionSecret" },
        },
        // Billing notices reach the customer by email where billing is on.
        ...(config.billing
          ? [
              {
                name: BILLING_MAIL_SECRET,
                namespace: APP_NAMESPACE,
                keys: { SMTP_URL: "billingSmtpUrl" as const },
              },
            ]
          : []),
        ...(config.billing
          ? [
              {
                name: STRIPE_SECRET,
                namespace: APP_NAMESPACE,
                keys: {
                  STRIPE_SECRET_KEY: "stripeSecretKey" as const,
                  STRIPE_WEBHOOK_SECRET: "stripeWebhookSecret" as const,
                },
              },
            ]
          : []),
      ],
    },
    inCluster,
  );

  const regionSettings = {
    region: config.region,
    role: config.role,
    activeRegion: config.activeRegion,
    logLevel: config.logLevel,
  };
  const appImage = workloadImage(config.imageRegistry, QUOTE_API_REPOSITORY, config.quoteApiImageTag);

  const migration = active
    ? new SchemaMigration(
        "migration",
        {
          namespace: namespaces.app,
          image: appImage,
          region: regionSettings,
          env: [],
          secretFiles: [secretFile("MIGRATIONS_DATABASE_URL", MIGRATIONS_DATABASE_SECRET)],
          dependsOn: externalSecrets.for(APP_NAMESPACE, MIGRATIONS_DATABASE_SECRET),
        },
        inCluster,
      )
    : undefined;
  // Every process of the new version starts on the migrated schema.
  const migrated = migration ? [migration.job] : [];

  const operators = new Operators(
    "operators",
    {
      manifests: operatorManifests,
      namespaces,
      imageRegistry: config.imageRegistry,
      image: config.operatorsImageTag,
      region: regionSettings,
      secrets: [
        ...externalSecrets.for(
          operatorsNamespace,
          OPERATORS_DATABASE_SECRET,
          ...(failover ? [FAILOVER_DATABASES_SECRET] : []),
        ),
        ...migrated,
      ],
      pricingModel: active,
      secretRotationWatch: {
        secrets: rotationWatchList(config.billing, SECRETS_USED.operators),
        describePolicyArn: secrets.describePolicyArn,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcIssuer: cluster.oidcIssuer,
      },
      failover: failover && {
        settings: failover,
        activeRegion: config.activeRegion,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcIssuer: cluster.oidcIssuer,
      },
    },
    { ...inCluster, dependsOn: [namespaces] },
  );

  new PlanCatalogue("plans", { plans: DEFAULT_PLANS, dependsOn: operators.crds }, inCluster);

  // Both regions' buckets, as the app addresses them: uploads to the active region's, reads with a
  // fallback to the other's replica (the API), exports and erasures (the runner).
  const documentsBuckets = {
    [config.role]: `${documentsBucketName(config)}@${config.region}`,
    [peerRole(config.role)]: `${documentsBucketName(peerLocation)}@${config.peerRegion}`,
  } as Record<RegionRole, string>;
  const quoteApi = new QuoteApi(
    "quote-api",
    {
      namespace: namespaces.app,
      image: appImage,
      region: regionSettings,
      publicBaseUrl: `https://${apiHostname(config.domain)}`,
      peerUrl: `https://${regionalHostname(config.domain, config.peerRegion)}`,
      readCanary: config.readCanary,
      peerRegion: config.peerRegion,
      documentsBuckets,
      documentsAccessPolicyArn: documents.appAccessPolicyArn,
      secretRotationWatch: {
        secrets: rotationWatchList(config.billing),
        describePolicyArn: secrets.describePolicyArn,
      },
      tenantSsoSecretsPolicyArn: secrets.tenantSsoReadPolicyArn,
      oidcProviderArn: cluster.oidcProviderArn,
      oidcIssuer: cluster.oidcIssuer,
      replicas: { min: config.apiMinReplicas, max: config.apiMaxReplicas },
      secrets: [
        ...externalSecrets.for(
          APP_NAMESPACE,
          API_DATABASE_SECRET,
          API_OPS_DATABASE_SECRET,
          CONSOLE_SESSION_SECRET,
          ...(config.billing ? [BILLING_DATABASE_SECRET, STRIPE_SECRET] : []),
        ),
        ...migrated,
      ],
      billing: config.billing
        ? {
            roleBinding: {
              manifest: billingRoleBinding,
              role: operators.role(TENANTS_NAMESPACE, BILLING_ROLE_NAME),
            },
          }
        : undefined,
      signup: {
        tenantNamespace: TENANTS_NAMESPACE,
        roleBinding: {
          manifest: signupRoleBinding,
          role: operators.role(TENANTS_NAMESPACE, SIGNUP_ROLE_NAME),
        },
      },
      loadBalancer: {
        certificateArn: certificate.arn,
        securityGroupId: network.loadBalancerSecurityGroupId,
        controller: loadBalancerController.release,
      },
    },
    inCluster,
  );

  const runner = new Runner(
    "runner",
    {
      namespace: namespaces.app,
      image: appImage,
      region: regionSettings,
      documentsAccessPolicyArn: documents.appAccessPolicyArn,
      documentsBuckets,
      oidcProviderArn: cluster.oidcProviderArn,
      oidcIssuer: cluster.oidcIssuer,
      replicas: { min: config.runnerMinReplicas, max: config.runnerMaxReplicas },
      secrets: [
        ...externalSecrets.for(
          APP_NAMESPACE,
          RUNNER_DATABASE_SECRET,
          API_KEYS_SECRET,
          OPS_WEBHOOK_SECRET,
          ...(config.billing ? [BILLING_MAIL_SECRET] : []),
        ),
        ...migrated,
      ],
      kedaChartVersion: config.kedaChartVersion,
      billingMail: config.billing ? { from: `Freight Billing <billing@${config.domain}>` } : undefined,
      llm: { baseUrl: config.llmBaseUrl, model: config.llmModel },
      secretRotationWatch: {
        secrets: rotationWatchList(config.billing, SECRETS_USED.runner),
        describePolicyArn: secrets.describePolicyArn,
      },
      workflowAutomation: { url: config.workflowAutomationUrl },
    },
    inCluster,
  );

  if (active) {
    new IsolationProbe(
      "isolation-probe",
      {
        namespace: namespaces.app,
        image: appImage,
        region: regionSettings,
        // As the app role, the one whose row security must hold.
        env: [],
        secretFiles: [secretFile("DATABASE_URL", API_DATABASE_SECRET, DATABASE_URL_KEY)],
        // After the new version has rolled out everywhere it serves from.
        dependsOn: [
          quoteApi.deployment,
          runner.deployment,
          ...externalSecrets.for(APP_NAMESPACE, API_DATABASE_SECRET),
        ],
      },
      inCluster,
    );
    const trialExpiryAccess: pulumi.Resource[] = [];
    if (config.billing) {
      const account = new k8s.core.v1.ServiceAccount(
        "trial-expiry",
        { metadata: { name: TRIAL_EXPIRY_SERVICE_ACCOUNT, namespace: APP_NAMESPACE } },
        { provider: k8sProvider, dependsOn: [namespaces.app] },
      );
      const binding = billingRoleBinding({ namespace: APP_NAMESPACE, name: TRIAL_EXPIRY_SERVICE_ACCOUNT });
      trialExpiryAccess.push(
        account,
        new k8s.rbac.v1.RoleBinding(
          "trial-expiry-billing",
          binding as unknown as k8s.rbac.v1.RoleBindingArgs,
          {
            provider: k8sProvider,
            dependsOn: [account, operators.role(TENANTS_NAMESPACE, BILLING_ROLE_NAME)],
          },
        ),
      );
    }
    const evidenceAccess = new EvidenceAccess(
      "evidence",
      {
        namespace: namespaces.app,
        namespaceName: APP_NAMESPACE,
        serviceAccount: EVIDENCE_SERVICE_ACCOUNT,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcIssuer: cluster.oidcIssuer,
        describePolicyArn: secrets.describePolicyArn,
        supplyChainReports: {
          bucketArn: documents.bucketArn,
          prefix: SUPPLY_CHAIN_PREFIX,
          region: config.region,
          kmsKeyArn: documents.kmsKeyArn,
        },
      },
      inCluster,
    );
    const pricingBacktestAccess = new PricingBacktestAccess(
      "pricing-backtest",
      {
        namespace: namespaces.app,
        namespaceName: APP_NAMESPACE,
        serviceAccount: PRICING_BACKTEST_SERVICE_ACCOUNT,
        pricingModelNamespace: PRICING_MODELS_NAMESPACE,
        dependsOn: [namespaces.get(PRICING_MODELS_NAMESPACE)],
      },
      inCluster,
    );
    new ScheduledJobs(
      "scheduled-jobs",
      {
        namespace: namespaces.app,
        image: appImage,
        region: regionSettings,
        tasks: scheduledTasks(config),
        dependsOn: [
          ...migrated,
          ...trialExpiryAccess,
          ...evidenceAccess.resources,
          ...pricingBacktestAccess.resources,
          ...externalSecrets.for(
            APP_NAMESPACE,
            EVIDENCE_DATABASE_SECRET,
            EVIDENCE_PROBE_DATABASE_SECRET,
            EVIDENCE_OPS_DATABASE_SECRET,
            USAGE_WARNINGS_DATABASE_SECRET,
            ONBOARDING_DATABASE_SECRET,
            LEAD_SIGNALS_DATABASE_SECRET,
            NPS_DATABASE_SECRET,
            CARRIER_COMPLIANCE_DATABASE_SECRET,
            CRM_WEBHOOK_SECRET,
            DSR_DRILL_DATABASE_SECRET,
            PRICING_BACKTEST_DATABASE_SECRET,
            EXEC_REPORT_DATABASE_SECRET,
            ...(config.billing ? [BILLING_DATABASE_SECRET, STRIPE_SECRET] : []),
          ),
        ],
      },
      inCluster,
    );
  }

  new ClusterAutoscaler(
    "cluster-autoscaler",
    {
      clusterName: cluster.name,
      region: config.region,
      chartVersion: config.clusterAutoscalerChartVersion,
      oidcProviderArn: cluster.oidcProviderArn,
      oidcIssuer: cluster.oidcIssuer,
    },
    inCluster,
  );

  new Monitoring(
    "monitoring",
    {
      region: config.region,
      dashboards: grafanaDashboards(),
      ruleGroups: prometheusRuleGroups(),
      kubePrometheusStackChartVersion: config.kubePrometheusStackChartVersion,
      alertWebhookSecrets: { page: SECRET_NAMES.opsWebhookUrl, ticket: SECRET_NAMES.opsWebhookUrl },
      // Pages and tickets also open support tickets, through the API's receiver in this region.
      supportReceiver: { url: alertReceiverUrl(), tokenSecret: SECRET_NAMES.alertReceiverToken },
      analyticsDatabase: {
        // The secondary has no analytics replica: its own replica serves no traffic while it stands by.
        host: database.analyticsReplicaAddress ?? database.address,
        port: DATABASE_PORT,
        name: DATABASE_NAME,
        postgresMajor: Number(config.dbEngineVersion.split(".")[0]),
        loginSecret: SECRET_NAMES.databaseOpsRole,
      },
      // The ClusterSecretStore and the External Secrets CRDs come with the workloads.
      secretStore: { name: SECRET_STORE, dependsOn: [externalSecrets] },
      scrapeTargets: [
        { name: "quote-api", namespace: APP_NAMESPACE, matchLabels: API_LABELS, port: "http" },
        { name: "runner", namespace: APP_NAMESPACE, matchLabels: RUNNER_LABELS, port: "http" },
        {
          name: "freight-operators",
          namespace: operators.namespace,
          matchLabels: OPERATOR_LABELS,
          port: "probes",
        },
      ],
    },
    inCluster,
  );

  const dns = new RegionDns(
    "dns",
    {
      domain: config.domain,
      hostedZoneId: config.hostedZoneId,
      region: config.region,
      role: config.role,
      activeRegion: config.activeRegion,
      loadBalancerHostname: quoteApi.loadBalancerHostname,
    },
    awsOnly,
  );
  resolveLocalHealthCheckId(dns.healthCheckId);

  // crossChecks allow the edge only on the primary, with a hostname under api.<domain>.
  const edge = config.edge
    ? new Edge(
        "edge",
        {
          domain: config.domain,
          hostedZoneId: config.hostedZoneId,
          hostname: config.edgeHostname!,
          regions: { primary: config.region, secondary: config.peerRegion },
          activeRegion: config.activeRegion,
          certificateArn: edgeCertificateArn(config, certificate),
          logBucketName: edgeLogBucketName(config),
          logRetentionDays: config.edgeLogRetentionDays,
        },
        awsOnly,
      )
    : undefined;

  const common = {
    region: config.region,
    role: config.role,
    clusterName: cluster.name,
    documentsBucketArn: documents.bucketArn,
    documentsBucketName: documents.bucketName,
    documentsKmsKeyArn: documents.kmsKeyArn,
    healthCheckId: dns.healthCheckId,
    apiRegionalHostname: dns.regionalHostname,
    ...(edge
      ? {
          edgeDistributionId: edge.distributionId,
          edgeDomainName: edge.distributionDomainName,
          edgeKeyValueStoreArn: edge.keyValueStoreArn,
          edgeLogBucketName: edge.logBucketName,
        }
      : {}),
  };
  if (config.role === "primary") {
    return {
      ...common,
      primaryDbArn: database.arn,
      primaryDbIdentifier: database.instanceIdentifier,
      primaryDbAddress: database.address,
      primaryDbFenceSecurityGroupId: database.fenceSecurityGroupId,
      primaryDbKmsKeyArn: database.kmsKeyArn,
      analyticsReplicaArn: database.analyticsReplicaArn!,
      databaseServiceRoleSecretArn: secrets.secretArns.databaseServiceRole,
      databaseOperatorRoleSecretArn: secrets.secretArns.databaseOperatorRole,
      databaseRunnerRoleSecretArn: secrets.secretArns.databaseRunnerRole,
      databaseOwnerRoleSecretArn: secrets.secretArns.databaseOwnerRole,
      databaseOpsRoleSecretArn: secrets.secretArns.databaseOpsRole,
      llmProviderApiKeySecretArn: secrets.secretArns.llmProviderApiKey,
      workflowAutomationApiKeySecretArn: secrets.secretArns.workflowAutomationApiKey,
      opsWebhookUrlSecretArn: secrets.secretArns.opsWebhookUrl,
      alertReceiverTokenSecretArn: secrets.secretArns.alertReceiverToken,
      crmWebhookUrlSecretArn: secrets.secretArns.crmWebhookUrl,
      crmWebhookSecretSecretArn: secrets.secretArns.crmWebhookSecret,
      consoleSessionSecretSecretArn: secrets.secretArns.consoleSessionSecret,
      ...(config.billing
        ? {
            stripeSecretKeySecretArn: secrets.secretArns.stripeSecretKey!,
            stripeWebhookSecretSecretArn: secrets.secretArns.stripeWebhookSecret!,
            databaseBillingRoleSecretArn: secrets.secretArns.databaseBillingRole!,
            billingSmtpUrlSecretArn: secrets.secretArns.billingSmtpUrl!,
          }
        : {}),
    };
  }
  return {
    ...common,
    replicaDbArn: database.arn,
    // The runbook promotes this instance: aws rds promote-read-replica --db-instance-identifier <it>.
    replicaDbIdentifier: database.instanceIdentifier,
    replicaDbAddress: database.address,
    replicaDbFenceSecurityGroupId: database.fenceSecurityGroupId,
    replicaDbKmsKeyArn: database.kmsKeyArn,
  };
}
