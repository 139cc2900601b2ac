// Everything that runs in a region's cluster and belongs to the product: the namespace, the
// quote API (Deployment, LoadBalancer Service, HPA, PDB), the runner Deployment, the platform
// operators with their CRDs and least-privilege RBAC, and the sync of Secrets Manager values into
// Kubernetes Secrets. Both regions run the same workloads; only the region env differs.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import type { RegionRole } from "../../stacks/config.ts";
import { RUNNER_POOL_LABEL } from "../cluster/cluster.ts";
import { serviceAccountRole } from "../cluster/irsa.ts";
import type { PlatformSecret } from "../secrets/secrets.ts";
import { SECRET_NAMES } from "../secrets/secrets.ts";
import { imageRef, OPERATORS_REPOSITORY, QUOTE_API_REPOSITORY } from "./images.ts";
import type { Manifest, OperatorManifests } from "./operator-manifests.ts";

export const APP_PORT = 8080;
export const OPERATORS_PORT = 8081;
export const NAMESPACE = "freight";
export const DATABASE_SECRET = "quote-api-database";
export const API_KEYS_SECRET = "third-party-api-keys";

export interface WorkloadsArgs {
  region: string;
  role: RegionRole;
  activeRegion: RegionRole;
  logLevel: string;
  imageRegistry: string;
  quoteApiImageTag: string;
  operatorsImageTag: string;
  api: { minReplicas: number; maxReplicas: number };
  runners: { minReplicas: number };
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  /** IAM policy giving the API its region's documents bucket. */
  documentsAccessPolicyArn: pulumi.Input<string>;
  documentsBucketName: pulumi.Input<string>;
  /** IAM policy reading exactly the platform secrets. */
  secretsReadPolicyArn: pulumi.Input<string>;
  secretArns: Record<PlatformSecret, pulumi.Input<string>>;
  database: { host: pulumi.Input<string>; port: number; name: string };
  loadBalancer: { certificateArn: pulumi.Input<string>; securityGroupId: pulumi.Input<string> };
  operatorManifests: OperatorManifests;
  externalSecretsChartVersion: string;
}

/** Restricted pod security: the app images run as an unprivileged user with a read-only root. */
const restrictedContainer = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

function httpProbes(port: number) {
  return {
    livenessProbe: {
      httpGet: { path: "/healthz", port },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: "/readyz", port },
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 2,
    },
  };
}

const NAMESPACED_RBAC = new Set(["Role", "RoleBinding", "ServiceAccount"]);

export class Workloads extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly apiDeploymentName: pulumi.Output<string>;
  readonly runnerDeploymentName: pulumi.Output<string>;
  /** Hostname of the API's network load balancer, the target of the regional DNS name. */
  readonly loadBalancerHostname: pulumi.Output<string>;

  constructor(name: string, args: WorkloadsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:Workloads", name, {}, opts);
    const parent = { parent: this };

    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: NAMESPACE,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
          },
        },
      },
      parent,
    );
    const inNs = { parent: this, dependsOn: [ns] };
    const namespace = ns.metadata.name;

    // CRDs first: the operators and anything that creates custom resources depend on them.
    const crds = args.operatorManifests.crds.map(
      (crd) =>
        new k8s.apiextensions.v1.CustomResourceDefinition(
          `${name}-crd-${crd.metadata.name}`,
          crd as unknown as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
          parent,
        ),
    );

    // --- secrets: Secrets Manager -> Kubernetes Secrets via External Secrets Operator ---
    const eso = new k8s.helm.v3.Release(
      `${name}-external-secrets`,
      {
        chart: "external-secrets",
        version: args.externalSecretsChartVersion,
        repositoryOpts: { repo: "https://charts.external-secrets.io" },
        namespace: "external-secrets",
        createNamespace: true,
        values: { installCRDs: true },
      },
      parent,
    );
    const secretsReaderRole = serviceAccountRole(
      `${name}-secrets-reader`,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: NAMESPACE,
        serviceAccount: "secrets-reader",
        policyArns: [args.secretsReadPolicyArn],
      },
      parent,
    );
    const secretsReader = new k8s.core.v1.ServiceAccount(
      `${name}-secrets-reader`,
      {
        metadata: {
          name: "secrets-reader",
          namespace,
          annotations: { "eks.amazonaws.com/role-arn": secretsReaderRole.arn },
        },
      },
      inNs,
    );
    const store = new k8s.apiextensions.CustomResource(
      `${name}-secret-store`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "SecretStore",
        metadata: { name: "aws-secrets-manager", namespace },
        spec: {
          provider: {
            aws: {
              service: "SecretsManager",
              region: args.region,
              auth: { jwt: { serviceAccountRef: { name: secretsReader.metadata.name } } },
            },
          },
        },
      },
      { parent: this, dependsOn: [ns, eso] },
    );
    const afterStore = { parent: this, dependsOn: [ns, eso, store] };
    const databaseSecret = new k8s.apiextensions.CustomResource(
      `${name}-database-url`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: DATABASE_SECRET, namespace },
        spec: {
          refreshInterval: "1h",
          secretStoreRef: { kind: "SecretStore", name: "aws-secrets-manager" },
          target: {
            name: DATABASE_SECRET,
            template: {
              data: {
                // The host is this region's instance, not the one recorded in the (replicated) secret.
                DATABASE_URL: pulumi.interpolate`postgres://{{ .username | urlquery }}:{{ .password | urlquery }}@${args.database.host}:${args.database.port}/${args.database.name}?sslmode=verify-full`,
              },
            },
          },
          dataFrom: [{ extract: { key: SECRET_NAMES.databaseServiceRole } }],
        },
      },
      afterStore,
    );
    const apiKeysSecret = new k8s.apiextensions.CustomResource(
      `${name}-api-keys`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: API_KEYS_SECRET, namespace },
        spec: {
          refreshInterval: "1h",
          secretStoreRef: { kind: "SecretStore", name: "aws-secrets-manager" },
          target: { name: API_KEYS_SECRET },
          data: [
            { secretKey: "LLM_API_KEY", remoteRef: { key: SECRET_NAMES.llmProviderApiKey } },
            {
              secretKey: "WORKFLOW_AUTOMATION_API_KEY",
              remoteRef: { key: SECRET_NAMES.workflowAutomationApiKey },
            },
          ],
        },
      },
      afterStore,
    );

    const regionEnv = [
      { name: "REGION_NAME", value: args.region },
      { name: "REGION_ROLE", value: args.role },
      { name: "REGION_ACTIVE", value: args.activeRegion },
      { name: "PORT", value: String(APP_PORT) },
      { name: "LOG_LEVEL", value: args.logLevel },
      { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: DATABASE_SECRET, key: "DATABASE_URL" } } },
      { name: "DOCUMENTS_BUCKET", value: args.documentsBucketName },
    ];
    const quoteApiImage = imageRef(args.imageRegistry, QUOTE_API_REPOSITORY, args.quoteApiImageTag);

    // --- quote API ---
    const apiLabels = { "app.kubernetes.io/name": "quote-api", "app.kubernetes.io/part-of": "freight" };
    const apiRole = serviceAccountRole(
      `${name}-quote-api`,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: NAMESPACE,
        serviceAccount: "quote-api",
        policyArns: [args.documentsAccessPolicyArn],
      },
      parent,
    );
    const apiAccount = new k8s.core.v1.ServiceAccount(
      `${name}-quote-api`,
      {
        metadata: {
          name: "quote-api",
          namespace,
          annotations: { "eks.amazonaws.com/role-arn": apiRole.arn },
        },
      },
      inNs,
    );
    const api = new k8s.apps.v1.Deployment(
      `${name}-quote-api`,
      {
        metadata: { name: "quote-api", namespace, labels: apiLabels },
        spec: {
          replicas: args.api.minReplicas,
          selector: { matchLabels: apiLabels },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
          template: {
            metadata: {
              labels: apiLabels,
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(APP_PORT) },
            },
            spec: {
              serviceAccountName: apiAccount.metadata.name,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              nodeSelector: { [RUNNER_POOL_LABEL]: "app" },
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: "topology.kubernetes.io/zone",
                  whenUnsatisfiable: "ScheduleAnyway",
                  labelSelector: { matchLabels: apiLabels },
                },
              ],
              terminationGracePeriodSeconds: 30,
              containers: [
                {
                  name: "quote-api",
                  image: quoteApiImage,
                  ports: [{ name: "http", containerPort: APP_PORT }],
                  env: regionEnv,
                  resources: {
                    requests: { cpu: "250m", memory: "256Mi" },
                    limits: { cpu: "1", memory: "512Mi" },
                  },
                  ...httpProbes(APP_PORT),
                  securityContext: restrictedContainer,
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              volumes: [{ name: "tmp", emptyDir: {} }],
            },
          },
        },
      },
      // The HPA owns the replica count once the Deployment exists.
      { parent: this, dependsOn: [ns, databaseSecret], ignoreChanges: ["spec.replicas"] },
    );
    const service = new k8s.core.v1.Service(
      `${name}-quote-api`,
      {
        metadata: {
          name: "quote-api",
          namespace,
          labels: apiLabels,
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
          },
        },
        spec: {
          type: "LoadBalancer",
          selector: apiLabels,
          ports: [{ name: "https", port: 443, targetPort: APP_PORT, protocol: "TCP" }],
        },
      },
      inNs,
    );
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-quote-api`,
      {
        metadata: { name: "quote-api", namespace },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: api.metadata.name },
          minReplicas: args.api.minReplicas,
          maxReplicas: args.api.maxReplicas,
          metrics: [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
            },
          ],
        },
      },
      inNs,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-quote-api`,
      {
        metadata: { name: "quote-api", namespace },
        // Node drains take one API pod at a time; quotes keep flowing during upgrades.
        spec: { maxUnavailable: 1, selector: { matchLabels: apiLabels } },
      },
      inNs,
    );

    // --- runners: same image, different command, only on the tainted runner pool ---
    const runnerLabels = { "app.kubernetes.io/name": "runner", "app.kubernetes.io/part-of": "freight" };
    const runner = new k8s.apps.v1.Deployment(
      `${name}-runner`,
      {
        metadata: { name: "runner", namespace, labels: runnerLabels },
        spec: {
          replicas: args.runners.minReplicas,
          selector: { matchLabels: runnerLabels },
          template: {
            metadata: { labels: runnerLabels },
            spec: {
              serviceAccountName: apiAccount.metadata.name,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              nodeSelector: { [RUNNER_POOL_LABEL]: "runners" },
              tolerations: [
                { key: RUNNER_POOL_LABEL, operator: "Equal", value: "runners", effect: "NoSchedule" },
              ],
              // A bulk-rating batch is checkpointed; two minutes lets the current step finish.
              terminationGracePeriodSeconds: 120,
              containers: [
                {
                  name: "runner",
                  image: quoteApiImage,
                  command: ["node", "app/runner/main.ts"],
                  ports: [{ name: "http", containerPort: APP_PORT }],
                  env: regionEnv,
                  envFrom: [{ secretRef: { name: API_KEYS_SECRET } }],
                  resources: {
                    requests: { cpu: "500m", memory: "512Mi" },
                    limits: { cpu: "2", memory: "1Gi" },
                  },
                  ...httpProbes(APP_PORT),
                  securityContext: restrictedContainer,
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              volumes: [{ name: "tmp", emptyDir: {} }],
            },
          },
        },
      },
      // KEDA owns the replica count.
      { parent: this, dependsOn: [ns, databaseSecret, apiKeysSecret], ignoreChanges: ["spec.replicas"] },
    );

    // --- platform operators ---
    const operatorsAccountName = "platform-operators";
    const rbac = args.operatorManifests.rbac.map((m) =>
      this.rbacResource(name, m, namespace, operatorsAccountName, ns),
    );
    const hasOwnAccount = args.operatorManifests.rbac.some(
      (m) => m.kind === "ServiceAccount" && m.metadata.name === operatorsAccountName,
    );
    const operatorDeps: pulumi.Resource[] = [ns, ...crds, ...rbac];
    if (!hasOwnAccount) {
      operatorDeps.push(
        new k8s.core.v1.ServiceAccount(
          `${name}-operators`,
          { metadata: { name: operatorsAccountName, namespace } },
          inNs,
        ),
      );
    }
    const operatorLabels = {
      "app.kubernetes.io/name": "platform-operators",
      "app.kubernetes.io/part-of": "freight",
    };
    new k8s.apps.v1.Deployment(
      `${name}-operators`,
      {
        metadata: { name: "platform-operators", namespace, labels: operatorLabels },
        spec: {
          // Two replicas with leader election: a standby takes over within the lease time.
          replicas: 2,
          selector: { matchLabels: operatorLabels },
          template: {
            metadata: {
              labels: operatorLabels,
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(OPERATORS_PORT) },
            },
            spec: {
              serviceAccountName: operatorsAccountName,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              nodeSelector: { [RUNNER_POOL_LABEL]: "app" },
              containers: [
                {
                  name: "operators",
                  image: imageRef(args.imageRegistry, OPERATORS_REPOSITORY, args.operatorsImageTag),
                  command: ["node", "operators/main.ts"],
                  ports: [{ name: "health", containerPort: OPERATORS_PORT }],
                  env: [
                    ...regionEnv.filter((e) => e.name !== "PORT"),
                    { name: "PORT", value: String(OPERATORS_PORT) },
                    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  ],
                  resources: {
                    requests: { cpu: "100m", memory: "128Mi" },
                    limits: { cpu: "500m", memory: "256Mi" },
                  },
                  ...httpProbes(OPERATORS_PORT),
                  securityContext: restrictedContainer,
                },
              ],
            },
          },
        },
      },
      { parent: this, dependsOn: operatorDeps },
    );

    this.namespace = namespace;
    this.apiDeploymentName = api.metadata.name;
    this.runnerDeploymentName = runner.metadata.name;
    this.loadBalancerHostname = service.status.apply((s) => s?.loadBalancer?.ingress?.[0]?.hostname ?? "");
    this.registerOutputs({
      namespace: this.namespace,
      apiDeploymentName: this.apiDeploymentName,
      runnerDeploymentName: this.runnerDeploymentName,
      loadBalancerHostname: this.loadBalancerHostname,
    });
  }

  /** One generated RBAC object, moved into this namespace and bound to the operators' account. */
  private rbacResource(
    name: string,
    manifest: Manifest,
    namespace: pulumi.Output<string>,
    account: string,
    ns: k8s.core.v1.Namespace,
  ): pulumi.CustomResource {
    const opts = { parent: this, dependsOn: [ns] };
    const metadata = NAMESPACED_RBAC.has(manifest.kind)
      ? { ...manifest.metadata, namespace }
      : manifest.metadata;
    const id = `${name}-${manifest.kind.toLowerCase()}-${manifest.metadata.name}`;
    const bindSubjects = (subjects: unknown) =>
      (Array.isArray(subjects) ? subjects : []).map((s: { kind?: string; name?: string }) =>
        s.kind === "ServiceAccount" ? { ...s, name: s.name ?? account, namespace } : s,
      );
    switch (manifest.kind) {
      case "ClusterRole":
        return new k8s.rbac.v1.ClusterRole(
          id,
          { ...manifest, metadata } as k8s.rbac.v1.ClusterRoleArgs,
          opts,
        );
      case "Role":
        return new k8s.rbac.v1.Role(id, { ...manifest, metadata } as k8s.rbac.v1.RoleArgs, opts);
      case "ClusterRoleBinding":
        return new k8s.rbac.v1.ClusterRoleBinding(
          id,
          {
            ...manifest,
            metadata,
            subjects: bindSubjects(manifest["subjects"]),
          } as unknown as k8s.rbac.v1.ClusterRoleBindingArgs,
          opts,
        );
      case "RoleBinding":
        return new k8s.rbac.v1.RoleBinding(
          id,
          {
            ...manifest,
            metadata,
            subjects: bindSubjects(manifest["subjects"]),
          } as unknown as k8s.rbac.v1.RoleBindingArgs,
          opts,
        );
      case "ServiceAccount":
        return new k8s.core.v1.ServiceAccount(
          id,
          { ...manifest, metadata } as k8s.core.v1.ServiceAccountArgs,
          opts,
        );
      default:
        throw new Error(
          `operators/deploy/rbac.yaml holds a ${manifest.kind} "${manifest.metadata.name}"; the stacks deploy only ` +
            "ServiceAccount, (Cluster)Role and (Cluster)RoleBinding from it. Move other objects out of the RBAC file.",
        );
    }
  }
}
