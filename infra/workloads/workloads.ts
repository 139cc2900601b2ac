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
import { GENERATE_COMMAND, operatorAccount, OperatorManifestsError } from "./operator-manifests.ts";

export const APP_PORT = 8080;
export const OPERATORS_PORT = 8081;
export const NAMESPACE = "freight";
export const DATABASE_SECRET = "quote-api-database";
export const API_KEYS_SECRET = "third-party-api-keys";
export const OPERATORS_DATABASE_SECRET = "operators-database";
/** The runners' own role: it claims jobs across tenants, which the app role's row security forbids. */
export const RUNNER_DATABASE_SECRET = "runner-database";
export const SECRET_STORE = "aws-secrets-manager";
export const API_LABELS = { "app.kubernetes.io/name": "quote-api", "app.kubernetes.io/part-of": "freight" };
export const RUNNER_LABELS = { "app.kubernetes.io/name": "runner", "app.kubernetes.io/part-of": "freight" };
export const OPERATOR_LABELS = {
  "app.kubernetes.io/name": "freight-operators",
  "app.kubernetes.io/part-of": "freight",
};

export interface WorkloadsArgs {
  region: string;
  role: RegionRole;
  activeRegion: RegionRole;
  logLevel: string;
  /** Absolute URL clients use (links in emails, signed document URLs). */
  publicBaseUrl: string;
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
  database: { host: pulumi.Input<string>; port: number; name: string };
  loadBalancer: {
    certificateArn: pulumi.Input<string>;
    securityGroupId: pulumi.Input<string>;
    /** The controller that turns the Service into an NLB; the Service waits for it. */
    controller: pulumi.Resource;
  };
  operatorManifests: OperatorManifests;
  externalSecretsChartVersion: string;
  /** The API exports the platform secrets' rotation dates (SECRETS_ROTATION_WATCH) for the rotation alerts. */
  secretRotationWatch: { secrets: string; describePolicyArn: pulumi.Input<string> };
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
  /** Where the operators run, as their generated RBAC declares. */
  readonly operatorsNamespace: string;
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
    /** A ServiceAccount in the app namespace bound (IRSA) to an IAM role with these policies. */
    const awsServiceAccount = (serviceAccount: string, policyArns: pulumi.Input<string>[]) => {
      const role = serviceAccountRole(
        `${name}-${serviceAccount}`,
        {
          oidcProviderArn: args.oidcProviderArn,
          oidcIssuer: args.oidcIssuer,
          namespace: NAMESPACE,
          serviceAccount,
          policyArns,
        },
        parent,
      );
      return new k8s.core.v1.ServiceAccount(
        `${name}-${serviceAccount}`,
        {
          metadata: {
            name: serviceAccount,
            namespace,
            annotations: { "eks.amazonaws.com/role-arn": role.arn },
          },
        },
        inNs,
      );
    };
    const secretsReader = awsServiceAccount("secrets-reader", [args.secretsReadPolicyArn]);
    // Cluster-scoped so the operators' namespace can sync from it too; it authenticates as the one
    // IRSA-bound service account above, whatever namespace asks.
    const store = new k8s.apiextensions.CustomResource(
      `${name}-secret-store`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ClusterSecretStore",
        metadata: { name: SECRET_STORE },
        spec: {
          provider: {
            aws: {
              service: "SecretsManager",
              region: args.region,
              auth: { jwt: { serviceAccountRef: { name: secretsReader.metadata.name, namespace } } },
            },
          },
        },
      },
      { parent: this, dependsOn: [ns, eso] },
    );
    const afterStore = { parent: this, dependsOn: [ns, eso, store] };
    const databaseUrlSecret = (
      id: string,
      secretName: string,
      ns: pulumi.Input<string>,
      login: PlatformSecret,
      deps: pulumi.Resource[],
    ) =>
      new k8s.apiextensions.CustomResource(
        id,
        {
          apiVersion: "external-secrets.io/v1",
          kind: "ExternalSecret",
          metadata: { name: secretName, namespace: ns },
          spec: {
            refreshInterval: "1h",
            secretStoreRef: { kind: "ClusterSecretStore", name: SECRET_STORE },
            target: {
              name: secretName,
              template: {
                data: {
                  // The host is this region's instance, not the one recorded in the (replicated) secret.
                  DATABASE_URL: pulumi.interpolate`postgres://{{ .username | urlquery }}:{{ .password | urlquery }}@${args.database.host}:${args.database.port}/${args.database.name}?sslmode=verify-full`,
                },
              },
            },
            dataFrom: [{ extract: { key: SECRET_NAMES[login] } }],
          },
        },
        { parent: this, dependsOn: [...deps, eso, store] },
      );
    const databaseSecret = databaseUrlSecret(
      `${name}-database-url`,
      DATABASE_SECRET,
      namespace,
      "databaseServiceRole",
      [ns],
    );
    const runnerDatabaseSecret = databaseUrlSecret(
      `${name}-runner-database-url`,
      RUNNER_DATABASE_SECRET,
      namespace,
      "databaseRunnerRole",
      [ns],
    );
    const apiKeysSecret = new k8s.apiextensions.CustomResource(
      `${name}-api-keys`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: API_KEYS_SECRET, namespace },
        spec: {
          refreshInterval: "1h",
          secretStoreRef: { kind: "ClusterSecretStore", name: SECRET_STORE },
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
    ];
    const appEnv = [
      ...regionEnv,
      { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: DATABASE_SECRET, key: "DATABASE_URL" } } },
      { name: "PUBLIC_BASE_URL", value: args.publicBaseUrl },
      { name: "DOCUMENTS_BUCKET", value: args.documentsBucketName },
      // Secret rotation dates from this region's Secrets Manager (app/observability/secret-rotation.ts).
      { name: "SECRETS_ROTATION_WATCH", value: args.secretRotationWatch.secrets },
      { name: "AWS_REGION", value: args.region },
    ];
    const quoteApiImage = imageRef(args.imageRegistry, QUOTE_API_REPOSITORY, args.quoteApiImageTag);

    // --- quote API ---
    const apiLabels = API_LABELS;
    const apiAccount = awsServiceAccount("quote-api", [
      args.documentsAccessPolicyArn,
      args.secretRotationWatch.describePolicyArn,
    ]);
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
                  command: ["node", "app/server.ts"],
                  ports: [{ name: "http", containerPort: APP_PORT }],
                  env: appEnv,
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
      { parent: this, dependsOn: [ns, args.loadBalancer.controller] },
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
    const runnerLabels = RUNNER_LABELS;
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
              // Runners read and write the same documents as the API, so they share its identity.
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
                  env: [
                    ...regionEnv,
                    // KEDA's postgresql scaler reads the queue depth through this same variable.
                    {
                      name: "DATABASE_URL",
                      valueFrom: { secretKeyRef: { name: RUNNER_DATABASE_SECRET, key: "DATABASE_URL" } },
                    },
                    { name: "RUNNER_PORT", value: String(APP_PORT) },
                  ],
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
      {
        parent: this,
        dependsOn: [ns, runnerDatabaseSecret, apiKeysSecret],
        ignoreChanges: ["spec.replicas"],
      },
    );

    // --- platform operators: namespace, identity and RBAC exactly as the generator declares them ---
    const operatorIdentity = operatorAccount(args.operatorManifests);
    const rbac = this.rbacResources(name, args.operatorManifests.rbac, operatorIdentity.namespace);
    const operatorsDatabase = databaseUrlSecret(
      `${name}-operators-database-url`,
      OPERATORS_DATABASE_SECRET,
      operatorIdentity.namespace,
      "databaseOperatorRole",
      rbac,
    );
    const operatorLabels = {
      "app.kubernetes.io/name": "freight-operators",
      "app.kubernetes.io/part-of": "freight",
    };
    new k8s.apps.v1.Deployment(
      `${name}-operators`,
      {
        metadata: {
          name: "freight-operators",
          namespace: operatorIdentity.namespace,
          labels: operatorLabels,
        },
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
              serviceAccountName: operatorIdentity.name,
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
                  ports: [{ name: "probes", containerPort: OPERATORS_PORT }],
                  env: [
                    ...regionEnv.filter((e) => e.name !== "PORT"),
                    {
                      name: "DATABASE_URL",
                      valueFrom: { secretKeyRef: { name: OPERATORS_DATABASE_SECRET, key: "DATABASE_URL" } },
                    },
                    { name: "PROBE_PORT", value: String(OPERATORS_PORT) },
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
      { parent: this, dependsOn: [...crds, ...rbac, operatorsDatabase] },
    );

    this.namespace = namespace;
    this.operatorsNamespace = operatorIdentity.namespace;
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

  /** The generated RBAC objects, created as declared (Namespace first, so the rest can land in it). */
  private rbacResources(
    name: string,
    manifests: Manifest[],
    defaultNamespace: string,
  ): pulumi.CustomResource[] {
    const created: pulumi.CustomResource[] = [];
    const namespaces = manifests
      .filter((m) => m.kind === "Namespace")
      .map(
        (m) =>
          new k8s.core.v1.Namespace(`${name}-namespace-${m.metadata.name}`, m as k8s.core.v1.NamespaceArgs, {
            parent: this,
          }),
      );
    created.push(...namespaces);
    const opts = { parent: this, dependsOn: namespaces };
    for (const manifest of manifests.filter((m) => m.kind !== "Namespace")) {
      const metadata = NAMESPACED_RBAC.has(manifest.kind)
        ? { ...manifest.metadata, namespace: manifest.metadata.namespace ?? defaultNamespace }
        : manifest.metadata;
      const spec = { ...manifest, metadata } as unknown;
      const id = `${name}-${manifest.kind.toLowerCase()}-${manifest.metadata.name}`;
      switch (manifest.kind) {
        case "ServiceAccount":
          created.push(new k8s.core.v1.ServiceAccount(id, spec as k8s.core.v1.ServiceAccountArgs, opts));
          break;
        case "ClusterRole":
          created.push(new k8s.rbac.v1.ClusterRole(id, spec as k8s.rbac.v1.ClusterRoleArgs, opts));
          break;
        case "Role":
          created.push(new k8s.rbac.v1.Role(id, spec as k8s.rbac.v1.RoleArgs, opts));
          break;
        case "ClusterRoleBinding":
          created.push(
            new k8s.rbac.v1.ClusterRoleBinding(id, spec as k8s.rbac.v1.ClusterRoleBindingArgs, opts),
          );
          break;
        case "RoleBinding":
          created.push(new k8s.rbac.v1.RoleBinding(id, spec as k8s.rbac.v1.RoleBindingArgs, opts));
          break;
        default:
          throw new OperatorManifestsError(
            `rbac.yaml holds a ${manifest.kind} "${manifest.metadata.name}"; the stacks deploy only Namespace, ` +
              `ServiceAccount, (Cluster)Role and (Cluster)RoleBinding from it. Fix the generator and run \`${GENERATE_COMMAND}\`.`,
          );
      }
    }
    return created;
  }
}
