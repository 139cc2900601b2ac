// The runners of one region and their scaling: the Deployment (the API image with the runner
// command, only on the tainted runner pool), KEDA, and the ScaledObject that turns queue depth (a
// SQL count on the jobs table) into replicas. The cluster autoscaler then turns pending runner
// pods into runner nodes, so the secondary idles at its own (usually zero) minimum and wakes when
// its queue fills.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PRICING_MODEL } from "../../app/pricing/pricing-splits.ts";

import { QUEUE_DEPTH_SQL } from "../../app/jobs/scaling.ts";
import type { RegionRole } from "../../app/region.ts";
import { serviceAccountRole } from "../cluster/irsa.ts";
import { movedFrom } from "../moved.ts";
import { DATABASE_URL_KEY } from "./external-secrets.ts";
import { APP_NAMESPACE } from "./namespaces.ts";
import type { WorkloadImage } from "./images.ts";
import { versionLabel } from "./images.ts";
import { restrictedPodSpec, secretFile } from "./pod-spec.ts";
import type { RegionSettings } from "./region-env.ts";
import { regionEnv } from "./region-env.ts";

export const KEDA_NAMESPACE = "keda";
/** Queued jobs one runner is expected to work through before KEDA adds another. */
export const JOBS_PER_RUNNER = 20;
export const RUNNER_PORT = 8080;
/** The runners' own role: it claims jobs across tenants, which the app role's row security forbids. */
export const RUNNER_DATABASE_SECRET = "runner-database";
/** Third-party API keys (LLM provider, workflow automation) the agent tasks call out with. */
export const API_KEYS_SECRET = "third-party-api-keys";
/** The keys of API_KEYS_SECRET, each a file of the runner's (LLM_API_KEY_FILE, ...). */
export const API_KEYS = ["LLM_API_KEY", "WORKFLOW_AUTOMATION_API_KEY"] as const;
/** Secret holding OPS_WEBHOOK_URL, synced from freight/ops-webhook-url. */
export const OPS_WEBHOOK_SECRET = "ops-webhook";
/** Secret holding SMTP_URL (billing notices), synced from freight/billing-smtp-url where billing is on. */
export const BILLING_MAIL_SECRET = "billing-mail";
export const RUNNER_SERVICE_ACCOUNT = "runner";
export const RUNNER_LABELS = { "app.kubernetes.io/name": "runner", "app.kubernetes.io/part-of": "freight" };

export interface RunnerArgs {
  namespace: k8s.core.v1.Namespace;
  image: WorkloadImage;
  region: RegionSettings;
  /** IAM policy giving the runners their region's documents bucket (the same as the API's). */
  documentsAccessPolicyArn: pulumi.Input<string>;
  /**
   * Both regions' buckets as <bucket>@<aws-region> (DOCUMENTS_BUCKET_PRIMARY/SECONDARY), as the API
   * names them: data subject requests export and erase a tenant's documents.
   */
  documentsBuckets: Record<RegionRole, string>;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  replicas: { min: number; max: number };
  /** The ExternalSecrets filling the Secrets the runner reads. */
  secrets: pulumi.Resource[];
  kedaChartVersion: string;
  /** Billing on: notices go out by email (SMTP_URL from the synced Secret) from this sender. */
  billingMail?: { from: string };
  /** The LLM provider the agent tasks call (its key is LLM_API_KEY in API_KEYS_SECRET). */
  llm: { baseUrl: string; model: string };
  /** The secrets the runner uses (SECRETS_ROTATION_WATCH), whose rotation dates it reads itself. */
  secretRotationWatch: { secrets: string; describePolicyArn: pulumi.Input<string> };
  /** Workflow automation (n8n): its webhook base; its key is WORKFLOW_AUTOMATION_API_KEY in API_KEYS_SECRET. */
  workflowAutomation: { url: string };
}

export class Runner extends pulumi.ComponentResource {
  readonly deploymentName: pulumi.Output<string>;
  readonly deployment: k8s.apps.v1.Deployment;
  readonly scaledObjectName: pulumi.Output<string>;

  constructor(name: string, args: RunnerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:Runner", name, {}, opts);
    const namespace = args.namespace.metadata.name;

    // Their own identity: the same documents as the API, but none of the API's Kubernetes
    // permissions (billing's Tenant writes are bound to the API's ServiceAccount only).
    const role = serviceAccountRole(
      name,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: APP_NAMESPACE,
        serviceAccount: RUNNER_SERVICE_ACCOUNT,
        policyArns: [args.documentsAccessPolicyArn, args.secretRotationWatch.describePolicyArn],
      },
      { parent: this },
    );
    const account = new k8s.core.v1.ServiceAccount(
      name,
      {
        metadata: {
          name: RUNNER_SERVICE_ACCOUNT,
          namespace,
          annotations: { "eks.amazonaws.com/role-arn": role.arn },
        },
      },
      { parent: this, dependsOn: [args.namespace] },
    );

    const deployment = new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name: "runner", namespace, labels: RUNNER_LABELS },
        spec: {
          replicas: args.replicas.min,
          selector: { matchLabels: RUNNER_LABELS },
          template: {
            metadata: { labels: { ...RUNNER_LABELS, ...versionLabel(args.image) } },
            spec: restrictedPodSpec({
              serviceAccountName: account.metadata.name,
              // Its account is for IAM (IRSA, whose token EKS projects itself); it never calls Kubernetes.
              callsKubernetesApi: false,
              pool: "runners",
              // A bulk-rating batch is checkpointed; two minutes lets the current step finish.
              terminationGracePeriodSeconds: 120,
              containers: [
                {
                  name: "runner",
                  image: args.image.ref,
                  command: ["node", "app/runner/main.ts"],
                  serves: { portName: "http", port: RUNNER_PORT },
                  env: [
                    ...regionEnv(args.region),
                    { name: "RUNNER_PORT", value: String(RUNNER_PORT) },
                    // Bulk lanes are priced with the quote API's PricingModel.
                    { name: "PRICING_MODEL", value: DEFAULT_PRICING_MODEL },
                    { name: "DOCUMENTS_BUCKET_PRIMARY", value: args.documentsBuckets.primary },
                    { name: "DOCUMENTS_BUCKET_SECONDARY", value: args.documentsBuckets.secondary },
                    // No DOCUMENTS_S3_ENDPOINT_PRIMARY or DOCUMENTS_S3_ENDPOINT_SECONDARY: S3's regional
                    // endpoints hold everywhere (the local platform points them at its gateways).
                    // The other RUNNER_* settings (slots, leases, RUNNER_EXPORT_TIMEOUT_MS for data
                    // exports, RUNNER_DSR_TIMEOUT_MS for data subject requests, ...) keep their
                    // defaults in every region (app/runner/config.ts). So does DSR_EXPORT_LINK_TTL_SECONDS:
                    // a deleted tenant's export link, sent to ops, lasts a day, as the API's links.
                    // The rotation dates of the secrets it uses, from this region's Secrets Manager, as
                    // the API reads them (SECRETS_ROTATION_REFRESH_SECONDS: hourly, everywhere).
                    { name: "SECRETS_ROTATION_WATCH", value: args.secretRotationWatch.secrets },
                    { name: "AWS_REGION", value: args.region.region },
                    { name: "LLM_BASE_URL", value: args.llm.baseUrl },
                    { name: "LLM_MODEL", value: args.llm.model },
                    // LLM_TIMEOUT_MS (6 s a call) and the breaker (LLM_BREAKER_FAILURES 5, LLM_BREAKER_HALF_OPEN_MS 10 s) keep their
                    // defaults everywhere: both regions call the same provider.
                    { name: "WORKFLOW_AUTOMATION_URL", value: args.workflowAutomation.url },
                    // WORKFLOW_AUTOMATION_TIMEOUT_MS (4 s) and its breaker (WORKFLOW_AUTOMATION_BREAKER_FAILURES 5,
                    // WORKFLOW_AUTOMATION_BREAKER_HALF_OPEN_MS 10 s) keep
                    // their defaults everywhere: both regions call the same service.
                    ...(args.billingMail
                      ? [{ name: "BILLING_EMAIL_FROM", value: args.billingMail.from }]
                      : []),
                  ],
                  // Mounted files (pod-spec.ts), re-read by the runner when External Secrets rotates them.
                  secretFiles: [
                    secretFile("DATABASE_URL", RUNNER_DATABASE_SECRET, DATABASE_URL_KEY),
                    secretFile("OPS_WEBHOOK_URL", OPS_WEBHOOK_SECRET),
                    ...(args.billingMail ? [secretFile("SMTP_URL", BILLING_MAIL_SECRET)] : []),
                    // The agent tasks' third-party keys, mounted for the tasks that call out with them.
                    ...API_KEYS.map((key) => secretFile(key, API_KEYS_SECRET)),
                  ],
                  resources: {
                    requests: { cpu: "500m", memory: "512Mi" },
                    limits: { cpu: "2", memory: "1Gi" },
                  },
                  writableTmp: true,
                },
              ],
            }),
          },
        },
      },
      // KEDA owns the replica count.
      {
        parent: this,
        dependsOn: [args.namespace, ...args.secrets],
        ignoreChanges: ["spec.replicas"],
        aliases: movedFrom("workloads", "workloads-runner"),
      },
    );

    const keda = new k8s.helm.v3.Release(
      `${name}-keda`,
      {
        chart: "keda",
        version: args.kedaChartVersion,
        repositoryOpts: { repo: "https://kedacore.github.io/charts" },
        namespace: KEDA_NAMESPACE,
        createNamespace: true,
        values: {
          resources: {
            operator: {
              requests: { cpu: "100m", memory: "128Mi" },
              limits: { cpu: "500m", memory: "512Mi" },
            },
            metricServer: {
              requests: { cpu: "100m", memory: "128Mi" },
              limits: { cpu: "500m", memory: "512Mi" },
            },
          },
        },
      },
      { parent: this, aliases: movedFrom("runners", "runners-keda") },
    );

    // KEDA reads the queue depth with the runners' login from the Secret itself (the runner's env
    // holds only the file's path now, which KEDA cannot follow).
    const triggerAuthentication = new k8s.apiextensions.CustomResource(
      `${name}-queue-depth-auth`,
      {
        apiVersion: "keda.sh/v1alpha1",
        kind: "TriggerAuthentication",
        metadata: { name: "runner-queue-depth", namespace },
        spec: {
          secretTargetRef: [{ parameter: "connection", name: RUNNER_DATABASE_SECRET, key: DATABASE_URL_KEY }],
        },
      },
      { parent: this, dependsOn: [keda, args.namespace, ...args.secrets] },
    );
    const scaledObject = new k8s.apiextensions.CustomResource(
      `${name}-queue-depth`,
      {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: "runner-queue-depth", namespace },
        spec: {
          scaleTargetRef: { name: deployment.metadata.name },
          minReplicaCount: args.replicas.min,
          maxReplicaCount: args.replicas.max,
          pollingInterval: 15,
          // Scale-in waits five minutes so a bursty bulk upload does not flap the pool.
          cooldownPeriod: 300,
          triggers: [
            {
              type: "postgresql",
              authenticationRef: { name: triggerAuthentication.metadata.name },
              metadata: {
                query: QUEUE_DEPTH_SQL,
                targetQueryValue: String(JOBS_PER_RUNNER),
                activationTargetQueryValue: "0",
              },
            },
          ],
        },
      },
      {
        parent: this,
        dependsOn: [keda, triggerAuthentication],
        aliases: movedFrom("runners", "runners-queue-depth"),
      },
    );

    this.deployment = deployment;
    this.deploymentName = deployment.metadata.name;
    this.scaledObjectName = scaledObject.metadata.name;
    this.registerOutputs({ deploymentName: this.deploymentName, scaledObjectName: this.scaledObjectName });
  }
}
