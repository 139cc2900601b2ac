// The quote API of one region: its IRSA-bound ServiceAccount (documents bucket), the Deployment on
// the app pool, the LoadBalancer Service the AWS Load Balancer Controller turns into an NLB, the
// HPA that owns its replica count, and a PodDisruptionBudget so node drains never take it down.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PRICING_MODEL } from "../../app/pricing/pricing-splits.ts";

import type { RegionRole } from "../../app/region.ts";
import { serviceAccountRole } from "../cluster/irsa.ts";
import { movedFrom } from "../moved.ts";
import { DATABASE_URL_KEY } from "./external-secrets.ts";
import { APP_NAMESPACE } from "./namespaces.ts";
import type { EnvVar, SecretFile } from "./pod-spec.ts";
import type { WorkloadImage } from "./images.ts";
import { versionLabel } from "./images.ts";
import { restrictedPodSpec, secretFile } from "./pod-spec.ts";
import type { RegionSettings } from "./region-env.ts";
import { regionEnv } from "./region-env.ts";

export const APP_PORT = 8080;
export const API_SERVICE_ACCOUNT = "quote-api";
/** Secret (synced by ExternalSecrets) holding the freight_app login's DATABASE_URL. */
export const API_DATABASE_SECRET = "quote-api-database";
/** Secret holding the read-only freight_ops login (OPS_DATABASE_URL) the API's aggregate gauges read with. */
export const API_OPS_DATABASE_SECRET = "quote-api-ops-database";
/** Billing's Secrets: the freight_billing login, and Stripe's API key and webhook signing secret. */
export const BILLING_DATABASE_SECRET = "billing-database";
export const BILLING_DATABASE_URL_KEY = "BILLING_DATABASE_URL";
/** The key of API_DATABASE_SECRET holding the other region's database (the read canary). */
export const READ_CANARY_DATABASE_URL_KEY = "READ_CANARY_DATABASE_URL";
export const STRIPE_SECRET = "stripe";
/** Secret holding ALERT_RECEIVER_TOKEN, synced from freight/alert-receiver-token. */
export const ALERT_RECEIVER_SECRET = "alert-receiver";

/**
 * Where the region's Alertmanager posts alert notifications: the API's Service inside the cluster
 * (its port 443 forwards to the app's plain-HTTP port; TLS ends at the load balancer).
 */
export function alertReceiverUrl(): string {
  return `http://quote-api.${APP_NAMESPACE}.svc.cluster.local:443/webhooks/alertmanager`;
}

/** The web console's session and CSRF signing key (app/console/session.ts). */
export const CONSOLE_SESSION_SECRET = "console-session";
export const API_LABELS = { "app.kubernetes.io/name": "quote-api", "app.kubernetes.io/part-of": "freight" };

/** How long an SSO browser session lives: short, so a user removed at the IdP loses access soon. */
export const SSO_SESSION_MINUTES = 30;

export interface QuoteApiArgs {
  namespace: k8s.core.v1.Namespace;
  image: WorkloadImage;
  region: RegionSettings;
  /** Absolute URL clients use (links in emails, signed document URLs). */
  publicBaseUrl: string;
  /**
   * The other region's own URL (its regional name, never the weighted public one, which may point
   * back here mid-failover): a standby region redirects writes there (307) instead of a 503.
   */
  peerUrl: string;
  /** The other region's name (its REGION_NAME), for data-residency refusals. */
  peerRegion: string;
  /**
   * The read canary on: API_DATABASE_SECRET also holds READ_CANARY_DATABASE_URL, the freight_app
   * login on the other region's database (app/routing/read-canary.ts). READ_CANARY_FRESH_SECONDS
   * is left at its default (10 s, a tenant's reads stay on the primary that long after its own
   * write): it only has to exceed the lag the health gate tolerates (5 s by default), which holds in
   * both regions.
   */
  readCanary?: boolean;
  /** Each region's documents bucket as <bucket>@<aws-region> (DOCUMENTS_BUCKET_PRIMARY/SECONDARY). */
  documentsBuckets: Record<RegionRole, string>;
  /** IAM policy giving the API its region's documents bucket and reads of the other's replicas. */
  documentsAccessPolicyArn: pulumi.Input<string>;
  /** The API exports the platform secrets' rotation dates (SECRETS_ROTATION_WATCH) for the rotation alerts. */
  secretRotationWatch: { secrets: string; describePolicyArn: pulumi.Input<string> };
  /** IAM policy reading tenants' SSO client secrets (GetSecretValue under the tenant SSO prefix). */
  tenantSsoSecretsPolicyArn: pulumi.Input<string>;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  replicas: { min: number; max: number };
  /** The ExternalSecrets filling the Secrets the API reads. */
  secrets: pulumi.Resource[];
  loadBalancer: {
    certificateArn: pulumi.Input<string>;
    securityGroupId: pulumi.Input<string>;
    /** The controller that turns the Service into an NLB; the Service waits for it. */
    controller: pulumi.Resource;
  };
  /**
   * Billing on: its env (Stripe and the freight_billing login from the synced Secrets, Tenant writes
   * in-cluster as this ServiceAccount) and the binding of billing's generated Role to the account.
   */
  billing?: {
    roleBinding: {
      manifest: (account: { namespace: string; name: string }) => Record<string, unknown>;
      role: pulumi.Resource;
    };
  };
  /**
   * Self-serve signup: Tenant creation in-cluster as this ServiceAccount (signup's generated Role,
   * bound here), and the namespace Tenants are created in.
   */
  signup: {
    tenantNamespace: string;
    roleBinding: {
      manifest: (account: { namespace: string; name: string }) => Record<string, unknown>;
      role: pulumi.Resource;
    };
  };
}

export class QuoteApi extends pulumi.ComponentResource {
  readonly serviceAccountName: pulumi.Output<string>;
  readonly deploymentName: pulumi.Output<string>;
  /** The Deployment, for what must run after its rollout (the post-deploy probe). */
  readonly deployment: k8s.apps.v1.Deployment;
  /** Hostname of the API's network load balancer, the target of the regional DNS name. */
  readonly loadBalancerHostname: pulumi.Output<string>;

  constructor(name: string, args: QuoteApiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:QuoteApi", name, {}, opts);
    const namespace = args.namespace.metadata.name;
    const inNs = (former: string): pulumi.CustomResourceOptions => ({
      parent: this,
      dependsOn: [args.namespace],
      aliases: movedFrom("workloads", former),
    });

    const role = serviceAccountRole(
      name,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: APP_NAMESPACE,
        serviceAccount: API_SERVICE_ACCOUNT,
        policyArns: [
          args.documentsAccessPolicyArn,
          args.secretRotationWatch.describePolicyArn,
          args.tenantSsoSecretsPolicyArn,
        ],
        formerly: { component: "workloads", name: "workloads-quote-api" },
      },
      { parent: this },
    );
    const account = new k8s.core.v1.ServiceAccount(
      name,
      {
        metadata: {
          name: API_SERVICE_ACCOUNT,
          namespace,
          annotations: { "eks.amazonaws.com/role-arn": role.arn },
        },
      },
      inNs("workloads-quote-api"),
    );
    const bindings = { billing: args.billing?.roleBinding, signup: args.signup.roleBinding };
    for (const [purpose, roleBinding] of Object.entries(bindings)) {
      if (!roleBinding) continue;
      const binding = roleBinding.manifest({ namespace: APP_NAMESPACE, name: API_SERVICE_ACCOUNT });
      new k8s.rbac.v1.RoleBinding(`${name}-${purpose}`, binding as unknown as k8s.rbac.v1.RoleBindingArgs, {
        parent: this,
        dependsOn: [account, roleBinding.role],
      });
    }

    const env: EnvVar[] = [
      ...regionEnv(args.region),
      { name: "PORT", value: String(APP_PORT) },
      { name: "PUBLIC_BASE_URL", value: args.publicBaseUrl },
      { name: "REGION_PEER_URL", value: args.peerUrl },
      // Where a tenant pinned to the other region lives (data residency refusals name it).
      { name: "REGION_PEER_NAME", value: args.peerRegion },
      // Documents (app/documents). Defaults that hold in every region: DOCUMENTS_MAX_BYTES (25 MiB),
      // DOCUMENTS_UPLOAD_TTL_SECONDS (15 min), DOCUMENTS_DOWNLOAD_TTL_SECONDS (5 min), DOCUMENTS_PROBE_MS
      // (each bucket asked every 5 s), and no DOCUMENTS_S3_ENDPOINT_PRIMARY or DOCUMENTS_S3_ENDPOINT_SECONDARY: S3's regional
      // endpoints (the local platform points them at its gateways).
      { name: "DOCUMENTS_BUCKET_PRIMARY", value: args.documentsBuckets.primary },
      { name: "DOCUMENTS_BUCKET_SECONDARY", value: args.documentsBuckets.secondary },
      // Secret rotation dates from this region's Secrets Manager (app/observability/secret-rotation.ts).
      // Defaults that hold in every region: SECRETS_ROTATION_REFRESH_SECONDS (hourly re-read) and no
      // AWS_ENDPOINT_URL_SECRETS_MANAGER (the regional endpoint; the local platform points it elsewhere).
      { name: "SECRETS_ROTATION_WATCH", value: args.secretRotationWatch.secrets },
      { name: "AWS_REGION", value: args.region.region },
      // The PricingModel quotes are priced with (its split row, refreshed on change).
      { name: "PRICING_MODEL", value: DEFAULT_PRICING_MODEL },
      // API_KEY_LAST_USED_FLUSH_SECONDS keeps its default everywhere: last_used_at is written every 30 s.
      // DSR_EXPORT_LINK_TTL_SECONDS keeps its default everywhere: a data subject's export link lasts a day.
      // Tenant writes (signup's creates, billing's plan changes) as this pod's ServiceAccount, bound
      // to the generated Roles above, in the tenants' namespace.
      { name: "KUBERNETES_API", value: "in-cluster" },
      { name: "BILLING_TENANT_NAMESPACE", value: args.signup.tenantNamespace },
      // Enterprise SSO (app/sso): browser sessions are short; tenants' client secrets come from this
      // region's Secrets Manager (AWS_REGION above, IAM via tenantSsoSecretsPolicyArn).
      { name: "SSO_SESSION_MINUTES", value: String(SSO_SESSION_MINUTES) },
      // Request rate limits (app/http/rate-limit.ts), shared by this region's replicas through its
      // database. Defaults that hold in every region: RATE_LIMIT_LEASE_MS (50 ms of a bucket leased at
      // once) and the calculator's per-address RATE_CALCULATOR_REQUESTS_PER_SECOND (2) and
      // RATE_CALCULATOR_BURST (20).
      { name: "RATE_LIMITING", value: "on" },
      // The NLB below preserves client addresses and adds no X-Forwarded-For: trust no proxy header.
      { name: "TRUSTED_PROXY_HOPS", value: "0" },
      ...(args.billing ? [{ name: "BILLING", value: "on" }] : []),
    ];
    // Mounted files (pod-spec.ts), re-read by the API when External Secrets rotates them.
    const secretFiles: SecretFile[] = [
      secretFile("DATABASE_URL", API_DATABASE_SECRET, DATABASE_URL_KEY),
      secretFile("OPS_DATABASE_URL", API_OPS_DATABASE_SECRET),
      ...(args.readCanary
        ? [secretFile(READ_CANARY_DATABASE_URL_KEY, API_DATABASE_SECRET, READ_CANARY_DATABASE_URL_KEY)]
        : []),
      // The bearer token the support-ticket receiver checks (Alertmanager sends the same).
      secretFile("ALERT_RECEIVER_TOKEN", ALERT_RECEIVER_SECRET),
      secretFile("CONSOLE_SESSION_SECRET", CONSOLE_SESSION_SECRET),
      ...(args.billing
        ? [
            secretFile("STRIPE_SECRET_KEY", STRIPE_SECRET),
            secretFile("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
            secretFile(BILLING_DATABASE_URL_KEY, BILLING_DATABASE_SECRET),
          ]
        : []),
    ];
    const deployment = new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name: "quote-api", namespace, labels: API_LABELS },
        spec: {
          replicas: args.replicas.min,
          selector: { matchLabels: API_LABELS },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
          template: {
            metadata: {
              labels: { ...API_LABELS, ...versionLabel(args.image) },
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(APP_PORT) },
            },
            spec: restrictedPodSpec({
              serviceAccountName: account.metadata.name,
              // Signup's Tenant creates (and billing's plan changes) call the Kubernetes API.
              callsKubernetesApi: true,
              pool: "app",
              terminationGracePeriodSeconds: 30,
              extra: {
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: "topology.kubernetes.io/zone",
                    whenUnsatisfiable: "ScheduleAnyway",
                    labelSelector: { matchLabels: API_LABELS },
                  },
                ],
              },
              containers: [
                {
                  name: "quote-api",
                  image: args.image.ref,
                  command: ["node", "app/server.ts"],
                  serves: { portName: "http", port: APP_PORT },
                  env,
                  secretFiles,
                  resources: {
                    requests: { cpu: "250m", memory: "256Mi" },
                    limits: { cpu: "1", memory: "512Mi" },
                  },
                  writableTmp: true,
                },
              ],
            }),
          },
        },
      },
      // The HPA owns the replica count once the Deployment exists.
      {
        ...inNs("workloads-quote-api"),
        dependsOn: [args.namespace, ...args.secrets],
        ignoreChanges: ["spec.replicas"],
      },
    );
    const service = new k8s.core.v1.Service(
      name,
      {
        metadata: {
          name: "quote-api",
          namespace,
          labels: API_LABELS,
          annotations: {
            // AWS Load Balancer Controller: an internet-facing NLB terminating TLS with the ACM
            // certificate, behind the one security group that admits 443 from anywhere.
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": args.loadBalancer.certificateArn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https",
            "service.beta.kubernetes.io/aws-load-balancer-security-groups": args.loadBalancer.securityGroupId,
            "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules": "true",
            // IP targets behind a TLS listener lose the client's address unless told to keep it; the
            // rate calculator limits per client address (TRUSTED_PROXY_HOPS=0 reads the socket's).
            "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes":
              "preserve_client_ip.enabled=true",
          },
        },
        spec: {
          type: "LoadBalancer",
          selector: API_LABELS,
          ports: [{ name: "https", port: 443, targetPort: APP_PORT, protocol: "TCP" }],
        },
      },
      { ...inNs("workloads-quote-api"), dependsOn: [args.namespace, args.loadBalancer.controller] },
    );
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      name,
      {
        metadata: { name: "quote-api", namespace },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
          minReplicas: args.replicas.min,
          maxReplicas: args.replicas.max,
          metrics: [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
            },
          ],
        },
      },
      inNs("workloads-quote-api"),
    );
    new k8s.policy.v1.PodDisruptionBudget(
      name,
      {
        metadata: { name: "quote-api", namespace },
        // Node drains take one API pod at a time; quotes keep flowing during upgrades.
        spec: { maxUnavailable: 1, selector: { matchLabels: API_LABELS } },
      },
      inNs("workloads-quote-api"),
    );

    this.serviceAccountName = account.metadata.name;
    this.deployment = deployment;
    this.deploymentName = deployment.metadata.name;
    this.loadBalancerHostname = service.status.apply((s) => s?.loadBalancer?.ingress?.[0]?.hostname ?? "");
    this.registerOutputs({
      serviceAccountName: this.serviceAccountName,
      deploymentName: this.deploymentName,
      loadBalancerHostname: this.loadBalancerHostname,
    });
  }
}
