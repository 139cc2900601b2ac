// Both region stacks, planned offline under Pulumi's mocks (stacks/plan-worker.ts sets the mocks
// first, then imports the program), checked against what the platform relies on.
import { existsSync, readFileSync } from "node:fs";

import { beforeAll, describe, expect, it } from "vitest";

import { QUEUE_DEPTH_SQL } from "../app/jobs/scaling.ts";
import { grafanaDashboards, prometheusRuleGroups } from "../dashboards/index.ts";
import { DEFAULT_PLANS } from "../app/db/plans.ts";
import { planObject } from "../infra/workloads/plan-catalogue.ts";
import { ENGINE_VERSION } from "../infra/workloads/pricing-model.ts";
import { PRICING } from "../app/pricing/data.ts";
import { RESTRICTED_CONTAINER_SECURITY } from "../infra/workloads/pod-spec.ts";
import { edgeFunctionCode } from "../infra/edge/edge-function.ts";
import { mockResourceId } from "./mocks.ts";
import type { PlannedStack } from "./plan.ts";
import { PlanError, planStack, transformPlan } from "./plan.ts";
import { all, childrenOf, envOf, get, one, podSpecOf, policyOf, rotationDays } from "./plan-queries.ts";

// The generated operator manifests when they exist, else a small fixture of the same layout.
const generated = existsSync("operators/deploy/crds.yaml") && existsSync("operators/deploy/rbac.yaml");
const manifests: Record<string, string> = generated
  ? {}
  : { operatorManifestsDir: "stacks/testdata/operators" };

const PRIMARY_DB_ARN = "arn:aws:rds:us-east-1:123456789012:db:freight-us-east-1-primary";
const PRIMARY_DB_ADDRESS = "freight-us-east-1-primary.cab12cd34ef.us-east-1.rds.amazonaws.com";
const SECONDARY_BUCKET_ARN = "arn:aws:s3:::freightrate-example-documents-us-west-2";
const SECONDARY_DB_ADDRESS = "freight-us-west-2-replica.cab12cd34ef.us-west-2.rds.amazonaws.com";
const PRIMARY_DB_FENCE_GROUP = "sg-0f3e1ce5ec0e00001";
const SECONDARY_DOCS_KEY = "arn:aws:kms:us-west-2:123456789012:key/0c3e1a52-secondary-documents";

// Each plan is a Node process of ~2 s CPU; on a shared 2-core machine it can take far longer.
const PLAN_TIMEOUT = 120_000;

let primary: PlannedStack;
let secondary: PlannedStack;

beforeAll(async () => {
  [primary, secondary] = await Promise.all([
    planStack("prod-primary", {
      config: manifests,
      peerOutputs: {
        documentsBucketArn: SECONDARY_BUCKET_ARN,
        documentsKmsKeyArn: SECONDARY_DOCS_KEY,
        replicaDbAddress: SECONDARY_DB_ADDRESS,
      },
    }),
    planStack("prod-secondary", {
      config: manifests,
      peerOutputs: {
        primaryDbArn: PRIMARY_DB_ARN,
        primaryDbIdentifier: "freight-us-east-1-primary",
        primaryDbFenceSecurityGroupId: PRIMARY_DB_FENCE_GROUP,
        healthCheckId: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
        primaryDbAddress: PRIMARY_DB_ADDRESS,
        databaseServiceRoleSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/database-service-role-Ab12Cd",
        databaseOperatorRoleSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/database-operator-role-Ef34Gh",
        databaseRunnerRoleSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/database-runner-role-Qr90St",
        databaseOwnerRoleSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/database-owner-role-Uv12Wx",
        databaseOpsRoleSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/database-ops-role-Yz34Ab",
        llmProviderApiKeySecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/llm-provider-api-key-Ij56Kl",
        workflowAutomationApiKeySecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/workflow-automation-api-key-Mn78Op",
        opsWebhookUrlSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/ops-webhook-url-Yz34Ab",
        alertReceiverTokenSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/alert-receiver-token-Qr12St",
        crmWebhookUrlSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/crm-webhook-url-Uv34Wx",
        crmWebhookSecretSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/crm-webhook-secret-Yz56Ab",
        consoleSessionSecretSecretArn:
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/console-session-secret-Cd56Ef",
      },
    }),
  ]);
}, PLAN_TIMEOUT);

const stacks = () => [
  { plan: primary, role: "primary", region: "us-east-1" },
  { plan: secondary, role: "secondary", region: "us-west-2" },
];

describe("both stacks", () => {
  it("register one component per concern, each with its resources parented under it", () => {
    for (const { plan } of stacks()) {
      for (const component of [
        "freight:network:Network",
        "freight:cluster:Cluster",
        "freight:database:Database",
        "freight:documents:Documents",
        "freight:dns:RegionDns",
        "freight:workloads:Namespaces",
        "freight:workloads:ExternalSecrets",
        "freight:workloads:QuoteApi",
        "freight:workloads:Runner",
        "freight:workloads:Operators",
        "freight:cluster:ClusterAutoscaler",
        "freight:secrets:Secrets",
        "freight:monitoring:Monitoring",
        "freight:cluster:LoadBalancerController",
      ]) {
        one(plan, component);
      }
      expect(childrenOf(plan, "freight:network:Network").length).toBeGreaterThan(10);
      // Nothing cloud-side floats at the root: only components and the two explicit providers.
      const roots = plan.resources.filter((r) => !r.parent && !r.type.startsWith("freight:"));
      expect(roots.map((r) => r.type).sort()).toEqual([
        "pulumi:providers:aws",
        "pulumi:providers:kubernetes",
      ]);
    }
  });

  it("tag every AWS resource through the stack's explicit provider (defaultTags)", () => {
    for (const { plan, role, region } of stacks()) {
      const provider = one(plan, "pulumi:providers:aws");
      expect(provider.props["region"]).toBe(region);
      expect(get(provider.props, "defaultTags", "tags")).toMatchObject({
        owner: "platform-team",
        "data-classification": "confidential",
        "region-role": role,
      });
      const aws = plan.resources.filter((r) => r.type.startsWith("aws:"));
      expect(aws.length).toBeGreaterThan(50);
      for (const r of aws) expect(r.provider, r.urn).toMatch(new RegExp(`^${provider.urn}::`));
    }
  });

  it("build a VPC over three AZs with public and private subnets and a NAT gateway per AZ", () => {
    for (const { plan, region } of stacks()) {
      const subnets = all(plan, "aws:ec2/subnet:Subnet");
      const zones = (kind: string) =>
        new Set(subnets.filter((s) => s.name.includes(`-${kind}-`)).map((s) => s.props["availabilityZone"]));
      expect(zones("public")).toEqual(new Set([`${region}a`, `${region}b`, `${region}c`]));
      expect(zones("private")).toEqual(new Set([`${region}a`, `${region}b`, `${region}c`]));
      expect(all(plan, "aws:ec2/natGateway:NatGateway")).toHaveLength(3);
      const privateRoutes = all(plan, "aws:ec2/routeTable:RouteTable").filter((r) =>
        r.name.includes("private"),
      );
      expect(privateRoutes).toHaveLength(3);
      for (const rt of privateRoutes) expect(get(rt.props, "routes", 0, "natGatewayId")).toMatch(/^nat-/);
    }
  });

  it("open no security group to the internet except HTTPS on the API load balancer", () => {
    for (const { plan } of stacks()) {
      const open = all(plan, "aws:ec2/securityGroup:SecurityGroup").flatMap((sg) =>
        ((sg.props["ingress"] as { cidrBlocks?: string[]; fromPort: number; toPort: number }[]) ?? [])
          .filter((rule) => rule.cidrBlocks?.includes("0.0.0.0/0"))
          .map((rule) => `${sg.name}:${rule.fromPort}-${rule.toPort}`),
      );
      expect(open).toEqual(["network-api-lb:443-443"]);
    }
  });

  it("run EKS with a private endpoint, an allow-listed public one, control-plane logs and encrypted secrets", () => {
    for (const { plan, region } of stacks()) {
      const cluster = one(plan, "aws:eks/cluster:Cluster");
      expect(cluster.props["name"]).toBe(`freight-${region}`);
      expect(get(cluster.props, "vpcConfig", "endpointPrivateAccess")).toBe(true);
      expect(get(cluster.props, "vpcConfig", "publicAccessCidrs")).toEqual(["203.0.113.0/24"]);
      expect(cluster.props["enabledClusterLogTypes"]).toEqual(
        expect.arrayContaining(["api", "audit", "authenticator", "controllerManager", "scheduler"]),
      );
      expect(get(cluster.props, "encryptionConfig", "provider", "keyArn")).toMatch(`arn:aws:kms:${region}:`);
      // The network policy agent enforces the stacks' NetworkPolicies; without it they are stored only.
      const cni = one(plan, "aws:eks/addon:Addon");
      expect(cni.props["addonName"]).toBe("vpc-cni");
      expect(JSON.parse(cni.props["configurationValues"] as string)).toEqual({ enableNetworkPolicy: "true" });

      const groups = all(plan, "aws:eks/nodeGroup:NodeGroup");
      expect(groups.map((g) => g.name).sort()).toEqual(["cluster-app", "cluster-runners"]);
      const runners = groups.find((g) => g.name === "cluster-runners")!;
      expect(get(runners.props, "taints", 0)).toMatchObject({
        key: "freight.io/pool",
        effect: "NO_SCHEDULE",
      });
      expect(get(runners.props, "tags", "k8s.io/cluster-autoscaler/enabled")).toBe("true");
      expect(Number(get(runners.props, "scalingConfig", "maxSize"))).toBeGreaterThan(
        Number(get(runners.props, "scalingConfig", "minSize")),
      );
      expect(runners.opts?.ignoreChanges).toContain("scalingConfig.desiredSize");
    }
  });

  it("keep documents versioned, KMS-encrypted, private and on a lifecycle in both regions", () => {
    for (const { plan, region } of stacks()) {
      const bucket = one(plan, "aws:s3/bucket:Bucket", "documents-bucket");
      expect(bucket.props["bucket"]).toBe(`freightrate-example-documents-${region}`);
      expect(bucket.opts?.protect).toBe(true);
      expect(
        get(
          one(plan, "aws:s3/bucketVersioning:BucketVersioning", "documents-versioning").props,
          "versioningConfiguration",
          "status",
        ),
      ).toBe("Enabled");
      const sse = get(
        one(
          plan,
          "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
          "documents-encryption",
        ).props,
        "rules",
        0,
        "applyServerSideEncryptionByDefault",
      );
      expect(sse).toMatchObject({
        sseAlgorithm: "aws:kms",
        kmsMasterKeyId: expect.stringMatching(`arn:aws:kms:${region}:`),
      });
      expect(
        one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "documents-public-access").props,
      ).toMatchObject({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      });
      const rules = one(
        plan,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "documents-lifecycle",
      ).props["rules"] as Record<string, unknown>[];
      expect(rules.every((r) => r["status"] === "Enabled")).toBe(true);
      expect(rules.find((r) => r["transitions"])?.["transitions"]).toEqual([
        { days: 90, storageClass: "GLACIER_IR" },
      ]);
      expect(rules.find((r) => r["noncurrentVersionExpiration"])?.["noncurrentVersionExpiration"]).toEqual({
        noncurrentDays: 30,
      });
      expect(
        rules.find((r) => r["abortIncompleteMultipartUpload"])?.["abortIncompleteMultipartUpload"],
      ).toEqual({
        daysAfterInitiation: 7,
      });
    }
  });

  it("let the API write only its own region's bucket and read the other's replicas, through its service account", () => {
    for (const { plan, region } of stacks()) {
      const peer = region === "us-east-1" ? "us-west-2" : "us-east-1";
      const policy = all(plan, "aws:iam/policy:Policy").find((p) => p.name === "documents-app-access")!;
      const doc = JSON.parse(policy.props["policy"] as string) as {
        Statement: { Action: string | string[]; Resource: string }[];
      };
      const resources = doc.Statement.map((s) => s.Resource);
      expect(resources).toContain(`arn:aws:s3:::freightrate-example-documents-${region}/*`);
      expect(resources).toContain(`arn:aws:s3:::freightrate-example-documents-${peer}/*`);
      for (const statement of doc.Statement) {
        const writes = [statement.Action].flat().some((a) => /Put|Delete|GenerateDataKey/.test(a));
        expect(statement.Resource).toMatch(
          writes
            ? new RegExp(`documents-${region}|:kms:${region}:`)
            : new RegExp(`documents-(${region}|${peer})|:kms:`),
        );
      }
      const role = all(plan, "aws:iam/role:Role").find((r) => r.name === "quote-api")!;
      expect(role.props["assumeRolePolicy"]).toContain("system:serviceaccount:freight:quote-api");
      const attachment = all(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").find(
        (a) => a.name === "quote-api-0",
      )!;
      expect(attachment.props["policyArn"]).toMatch(/:policy\/documents-app-access/);
    }
  });

  it("grant no IAM action `*` on resource `*`", () => {
    for (const { plan } of stacks()) {
      const docs = plan.resources
        .filter((r) => r.type === "aws:iam/policy:Policy" || r.type === "aws:iam/rolePolicy:RolePolicy")
        .map(
          (r) =>
            JSON.parse(r.props["policy"] as string) as {
              Statement: { Action: unknown; Resource: unknown }[];
            },
        );
      expect(docs.length).toBeGreaterThan(2);
      for (const doc of docs) {
        for (const s of doc.Statement) {
          const actions = [s.Action].flat();
          expect(actions.some((a) => a === "*" || a === "*:*")).toBe(false);
        }
      }
    }
  });

  it("check each region's /readyz and attach that health check to its failover and weighted records", () => {
    for (const { plan, role, region } of stacks()) {
      const check = one(plan, "aws:route53/healthCheck:HealthCheck");
      expect(check.props).toMatchObject({
        type: "HTTPS",
        fqdn: `${region}.api.freightrate.example`,
        port: 443,
        resourcePath: "/readyz",
      });
      const checkId = mockResourceId(region, check.type, check.name);
      const records = all(plan, "aws:route53/record:Record");
      const failover = records.filter((r) => r.props["failoverRoutingPolicies"]);
      expect(failover).toHaveLength(1);
      expect(get(failover[0]!.props, "failoverRoutingPolicies", 0, "type")).toBe(
        role === "primary" ? "PRIMARY" : "SECONDARY",
      );
      expect(failover[0]!.props["healthCheckId"]).toBe(checkId);

      const weighted = records.filter((r) => r.props["weightedRoutingPolicies"]);
      expect(weighted).toHaveLength(1);
      expect(weighted[0]!.props).toMatchObject({
        name: "api.freightrate.example",
        setIdentifier: region,
        healthCheckId: checkId,
      });
      expect(get(weighted[0]!.props, "weightedRoutingPolicies", 0, "weight")).toBe(
        role === "primary" ? 100 : 0,
      );
      // The failover operator moves these weights at run time; `pulumi up` must not move them back.
      expect(weighted[0]!.opts?.ignoreChanges).toEqual(["weightedRoutingPolicies"]);
    }
  });

  it("scale the runner Deployment on queue depth with KEDA, min/max by region role", () => {
    for (const { plan, role } of stacks()) {
      const keda = all(plan, "kubernetes:helm.sh/v3:Release").find((r) => r.props["chart"] === "keda")!;
      expect(keda.props["version"]).toMatch(/^\d+\.\d+\.\d+$/);
      const scaled = one(plan, "kubernetes:keda.sh/v1alpha1:ScaledObject");
      expect(get(scaled.props, "spec", "scaleTargetRef", "name")).toBe("runner");
      expect(get(scaled.props, "spec", "minReplicaCount")).toBe(role === "primary" ? 1 : 0);
      expect(get(scaled.props, "spec", "maxReplicaCount")).toBe(20);
      expect(get(scaled.props, "spec", "triggers", 0)).toMatchObject({
        type: "postgresql",
        authenticationRef: { name: "runner-queue-depth" },
        metadata: { query: QUEUE_DEPTH_SQL },
      });
      // KEDA reads the runners' login from the Secret: the runner's env holds only a file's path.
      const auth = one(plan, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication");
      expect(get(auth.props, "spec", "secretTargetRef")).toEqual([
        { parameter: "connection", name: "runner-database", key: "DATABASE_URL" },
      ]);
    }
  });

  it("deploy the API pinned, probed, bounded, non-root, with its region env and a disruption budget", () => {
    for (const { plan, role, region } of stacks()) {
      const deployments = all(plan, "kubernetes:apps/v1:Deployment");
      const api = deployments.find((d) => d.name === "quote-api")!;
      const container = get(api.props, "spec", "template", "spec", "containers", 0) as Record<
        string,
        unknown
      >;
      expect(container["image"]).toBe(
        `123456789012.dkr.ecr.${region}.amazonaws.com/freight/quote-api@sha256:6988f9da18c040e6046f21372bee13345407cd7b5db8eaabf8f0d17062cc0bfc`,
      );
      // The tag is for humans, on the pod and never in the selector (it changes with each release).
      expect(get(api.props, "spec", "template", "metadata", "labels", "app.kubernetes.io/version")).toBe(
        "2026.11.26-3f9c2ab",
      );
      expect(get(api.props, "spec", "selector", "matchLabels")).not.toHaveProperty(
        "app.kubernetes.io/version",
      );
      // Signup creates Tenants, so the API is a Kubernetes client in every stack: it holds a projected,
      // expiring token instead of the automounted one.
      expect(get(api.props, "spec", "template", "spec", "automountServiceAccountToken")).toBe(false);
      const volumes = get(api.props, "spec", "template", "spec", "volumes") as { projected?: unknown }[];
      expect(volumes.filter((v) => v.projected)).toHaveLength(1);
      // Explicit, so the local platform starts the process the image would (no entrypoint guess).
      expect(container["command"]).toEqual(["node", "app/server.ts"]);
      expect(container["ports"]).toEqual([{ name: "http", containerPort: 8080 }]);
      expect(get(container, "livenessProbe", "httpGet")).toEqual({ path: "/healthz", port: 8080 });
      expect(get(container, "readinessProbe", "httpGet")).toEqual({ path: "/readyz", port: 8080 });
      expect(get(container, "resources", "requests")).toBeDefined();
      expect(get(container, "resources", "limits")).toBeDefined();
      expect(get(container, "securityContext", "runAsNonRoot")).toBe(true);
      const env = Object.fromEntries(
        (container["env"] as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [
          e.name,
          e.value ?? e.valueFrom,
        ]),
      );
      expect(env).toMatchObject({
        REGION_NAME: region,
        REGION_ROLE: role,
        REGION_ACTIVE: "primary",
        PORT: "8080",
        LOG_LEVEL: "info",
        DATABASE_URL_FILE: "/var/run/secrets/freight/quote-api-database/DATABASE_URL",
        OPS_DATABASE_URL_FILE: "/var/run/secrets/freight/quote-api-ops-database/OPS_DATABASE_URL",
        // The read canary's database: the other region's, from the same Secret (freight:readCanary on).
        READ_CANARY_DATABASE_URL_FILE: "/var/run/secrets/freight/quote-api-database/READ_CANARY_DATABASE_URL",
        // The other region's own name: a standby redirects writes there rather than answering 503.
        REGION_PEER_URL: `https://${role === "primary" ? "us-west-2" : "us-east-1"}.api.freightrate.example`,
      });
      const pdb = one(plan, "kubernetes:policy/v1:PodDisruptionBudget");
      expect(get(pdb.props, "spec", "selector", "matchLabels")).toEqual(
        get(api.props, "spec", "selector", "matchLabels"),
      );
      const hpa = one(plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
      expect(get(hpa.props, "spec", "scaleTargetRef", "name")).toBe("quote-api");
      const service = one(plan, "kubernetes:core/v1:Service");
      expect(get(service.props, "spec", "ports", 0)).toMatchObject({ port: 443, targetPort: 8080 });
      // The NLB comes from the AWS Load Balancer Controller, installed first, behind the 443-only group.
      const controller = all(plan, "kubernetes:helm.sh/v3:Release").find(
        (r) => r.props["chart"] === "aws-load-balancer-controller",
      )!;
      expect(service.opts?.dependsOn).toContain(controller.urn);
      const lbGroup = one(plan, "aws:ec2/securityGroup:SecurityGroup", "network-api-lb");
      expect(
        get(
          service.props,
          "metadata",
          "annotations",
          "service.beta.kubernetes.io/aws-load-balancer-security-groups",
        ),
      ).toBe(mockResourceId(region, lbGroup.type, lbGroup.name));

      for (const d of deployments) {
        for (const c of get(d.props, "spec", "template", "spec", "containers") as Record<string, unknown>[]) {
          expect(String(c["image"]), d.name).toMatch(/@sha256:[a-f0-9]{64}$/);
          expect(c["livenessProbe"], d.name).toBeDefined();
          expect(c["readinessProbe"], d.name).toBeDefined();
          expect(get(c, "securityContext", "runAsNonRoot"), d.name).toBe(true);
        }
      }
    }
  });

  it("run the runners from the API image with the runner command, only on the runner pool", () => {
    for (const { plan } of stacks()) {
      const runner = all(plan, "kubernetes:apps/v1:Deployment").find((d) => d.name === "runner")!;
      const spec = get(runner.props, "spec", "template", "spec") as Record<string, unknown>;
      const container = get(spec, "containers", 0) as Record<string, unknown>;
      expect(container["image"]).toMatch(
        /\/freight\/quote-api@sha256:6988f9da18c040e6046f21372bee13345407cd7b5db8eaabf8f0d17062cc0bfc$/,
      );
      expect(container["command"]).toEqual(["node", "app/runner/main.ts"]);
      expect(spec["automountServiceAccountToken"]).toBe(false);
      expect(spec["nodeSelector"]).toEqual({ "freight.io/pool": "runners" });
      expect(runner.opts?.ignoreChanges).toContain("spec.replicas");
    }
  });

  it("deploy the operators with the generated CRDs and RBAC and their own service account", () => {
    for (const { plan } of stacks()) {
      const crds = all(plan, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition");
      expect(crds.length).toBeGreaterThan(0);
      const account = one(
        plan,
        "kubernetes:core/v1:ServiceAccount",
        "operators-serviceaccount-freight-operators",
      );
      const operators = all(plan, "kubernetes:apps/v1:Deployment").find((d) => d.name === "operators")!;
      const spec = get(operators.props, "spec", "template", "spec") as Record<string, unknown>;
      expect(spec["serviceAccountName"]).toBe(get(account.props, "metadata", "name"));
      expect(get(operators.props, "metadata", "namespace")).toBe(get(account.props, "metadata", "namespace"));
      const container = get(spec, "containers", 0) as Record<string, unknown>;
      expect(container["image"]).toMatch(
        /\/freight\/platform-operators@sha256:a28f84b0d6d28455fdee8cb9a500f9659fc254d7c3c4491af0f072145b6fb85e$/,
      );
      expect(
        get(operators.props, "spec", "template", "metadata", "labels", "app.kubernetes.io/version"),
      ).toBe("2026.11.26-3f9c2ab");
      // Controllers are API clients: a declared projected token, bound to the pod, for the API server only.
      expect(spec["automountServiceAccountToken"]).toBe(false);
      const volumes = spec["volumes"] as Record<string, any>[];
      const token = volumes.find((v) => v["name"] === "kube-api-token")!;
      expect(token["projected"]["sources"][0]).toEqual({
        serviceAccountToken: {
          audience: "https://kubernetes.default.svc",
          expirationSeconds: 3600,
          path: "token",
        },
      });
      expect(container["volumeMounts"]).toContainEqual({
        name: "kube-api-token",
        mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
        readOnly: true,
      });
      // V8 collects before the pod's memory limit: the heap cap is well under it.
      expect(container["command"]).toEqual([
        "node",
        "--max-old-space-size=256",
        "--max-semi-space-size=16",
        "operators/main.ts",
      ]);
      expect(container["resources"]).toEqual({
        requests: { cpu: "100m", memory: "512Mi" },
        limits: { cpu: "500m", memory: "512Mi" },
      });
      expect(container["ports"]).toEqual([{ name: "probes", containerPort: 8081 }]);
      // Created only after the CRDs and RBAC it needs.
      for (const crd of crds) expect(operators.opts?.dependsOn).toContain(crd.urn);
      expect(all(plan, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").length).toBeGreaterThan(0);
    }
  });
});

describe("workload components", () => {
  it("keep the URN of every resource moved out of Workloads and Runners (aliases), so `pulumi up` replaces nothing", () => {
    const former = JSON.parse(readFileSync("stacks/testdata/former-urns.json", "utf8")) as Record<
      string,
      string[]
    >;
    for (const { plan } of stacks()) {
      const addressed = new Set(plan.resources.flatMap((r) => [r.urn, ...(r.opts?.aliases ?? [])]));
      const urns = former[plan.stack]!;
      expect(urns.length).toBeGreaterThan(30);
      expect(urns.filter((urn) => !addressed.has(urn))).toEqual([]);
    }
  });

  it("give the runner its own KEDA and ScaledObject, and the external secrets their operator and store", () => {
    for (const { plan } of stacks()) {
      const runner = childrenOf(plan, "freight:workloads:Runner").map((r) => r.type);
      // Its role carries two policies: the documents buckets, and DescribeSecret for its rotation watch.
      expect(runner.sort()).toEqual([
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "kubernetes:keda.sh/v1alpha1:TriggerAuthentication",
      ]);
      const secrets = childrenOf(plan, "freight:workloads:ExternalSecrets");
      expect(secrets.filter((r) => r.type === "kubernetes:helm.sh/v3:Release")).toHaveLength(1);
      expect(
        secrets.filter((r) => r.type === "kubernetes:external-secrets.io/v1:ClusterSecretStore"),
      ).toHaveLength(1);
      // Every workload Secret is synced by this component; monitoring renders its own two
      // (Alertmanager's configuration, Grafana's datasource) from the same store.
      const outside = all(plan, "kubernetes:external-secrets.io/v1:ExternalSecret").filter(
        (r) => r.parent !== secrets[0]!.parent,
      );
      expect(outside.map((r) => get(r.props, "metadata", "namespace"))).toEqual(["monitoring", "monitoring"]);
    }
  });

  it("run every pod with the restricted security context, whatever component deploys it", () => {
    for (const { plan } of stacks()) {
      const pods = plan.resources.flatMap((r) =>
        r.type.startsWith("kubernetes:apps/v1:") || r.type.startsWith("kubernetes:batch/v1:")
          ? [{ name: `${r.type}::${r.name}`, spec: podSpecOf(r) }]
          : [],
      );
      expect(pods.length).toBeGreaterThanOrEqual(3);
      for (const { name, spec } of pods) {
        expect(get(spec, "securityContext", "runAsNonRoot"), name).toBe(true);
        for (const c of spec["containers"] as Record<string, unknown>[]) {
          expect(c["securityContext"], name).toEqual(RESTRICTED_CONTAINER_SECURITY);
          expect(get(c, "resources", "limits"), name).toBeDefined();
        }
      }
    }
  });

  it("leave billing off unless the stack turns it on: no Stripe secrets, no billing Tenant writes for the API", () => {
    for (const { plan } of stacks()) {
      const env = envOf(one(plan, "kubernetes:apps/v1:Deployment", "quote-api"));
      expect(Object.keys(env).filter((k) => /^BILLING$|STRIPE|BILLING_DATABASE/.test(k))).toEqual([]);
      expect(
        all(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").filter(
          (b) => get(b.props, "roleRef", "name") === "freight-billing",
        ),
      ).toEqual([]);
      expect(
        all(plan, "aws:secretsmanager/secret:Secret").filter((s) =>
          /stripe|billing/.test(String(s.props["name"])),
        ),
      ).toEqual([]);
      // The Role itself is part of the generated RBAC either way; it grants nothing until bound.
      one(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role", "operators-role-freight-billing");
    }
  });

  it("let the API create Tenants for signups, in-cluster, with only the generated signup Role", () => {
    for (const { plan } of stacks()) {
      const env = envOf(one(plan, "kubernetes:apps/v1:Deployment", "quote-api"));
      expect(env["KUBERNETES_API"]).toBe("in-cluster");
      expect(env["BILLING_TENANT_NAMESPACE"]).toBe("tenants");
      const bindings = all(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").filter(
        (b) => get(b.props, "roleRef", "name") === "freight-signup",
      );
      expect(bindings.map((b) => get(b.props, "subjects", 0, "name"))).toEqual(["quote-api"]);
      one(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role", "operators-role-freight-signup");
    }
  });
});

describe("failover controller", () => {
  const replicaArn = "arn:aws:rds:us-west-2:123456789012:db:freight-us-west-2-replica";

  it("runs in the secondary's operators with the RDS and Route 53 drivers, both regions' databases and health URLs", () => {
    const env = envOf(one(secondary, "kubernetes:apps/v1:Deployment", "operators"));
    const fromSecret = (key: string) => `/var/run/secrets/freight/failover-databases/${key}`;
    expect(env).toMatchObject({
      FAILOVER_PRIMARY_HEALTH_URL: "https://us-east-1.api.freightrate.example/readyz",
      FAILOVER_SECONDARY_HEALTH_URL: "https://us-west-2.api.freightrate.example/readyz",
      FAILOVER_PRIMARY_DB_ADMIN_URL_FILE: fromSecret("PRIMARY_DATABASE_URL"),
      FAILOVER_PRIMARY_DB_OPERATOR_URL_FILE: fromSecret("PRIMARY_DATABASE_URL"),
      FAILOVER_SECONDARY_DB_ADMIN_URL_FILE: fromSecret("SECONDARY_DATABASE_URL"),
      FAILOVER_SECONDARY_DB_OPERATOR_URL_FILE: fromSecret("SECONDARY_DATABASE_URL"),
      // The runners' REGION_NAME, as runner_heartbeats records it.
      FAILOVER_PRIMARY_REGION_NAME: "us-east-1",
      FAILOVER_SECONDARY_REGION_NAME: "us-west-2",
      FAILOVER_DATABASE_DRIVER: "rds",
      RDS_PRIMARY_INSTANCE: "us-east-1:freight-us-east-1-primary",
      RDS_SECONDARY_INSTANCE: "us-west-2:freight-us-west-2-replica",
      FAILOVER_TRAFFIC_DRIVER: "routing-row+route53",
      ROUTE53_HOSTED_ZONE_ID: "Z0123456789ABCDEFGHIJ",
      ROUTE53_RECORD_NAME: "api.freightrate.example",
      ROUTE53_PRIMARY_TARGET: "us-east-1.api.freightrate.example",
      ROUTE53_SECONDARY_TARGET: "us-west-2.api.freightrate.example",
    });
    // Automatic mode's DNS signal: each region's own health check, the peer's from its outputs.
    const localCheck = one(secondary, "aws:route53/healthCheck:HealthCheck");
    expect(env["ROUTE53_SECONDARY_HEALTH_CHECK_ID"]).toBe(
      mockResourceId("us-west-2", localCheck.type, localCheck.name),
    );
    expect(env["ROUTE53_PRIMARY_HEALTH_CHECK_ID"]).toBe("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    // The two URLs are the freight_operator login on each region's own host.
    const secret = one(
      secondary,
      "kubernetes:external-secrets.io/v1:ExternalSecret",
      "external-secrets-freight-system-failover-databases",
    );
    expect(get(secret.props, "spec", "dataFrom", 0, "extract", "key")).toBe("freight/database-operator-role");
    const urls = get(secret.props, "spec", "target", "template", "data") as Record<string, string>;
    expect(urls["PRIMARY_DATABASE_URL"]).toContain(`@${PRIMARY_DB_ADDRESS}:5432/freight`);
    expect(urls["SECONDARY_DATABASE_URL"]).toMatch(
      /@freight-us-west-2-replica\.c[0-9a-f]+\.us-west-2\.rds\.amazonaws\.com:5432\//,
    );
  });

  it("fence an old primary with the rule-less security group each region creates beside its database", () => {
    for (const { plan, region } of [
      { plan: primary, region: "us-east-1" },
      { plan: secondary, region: "us-west-2" },
    ]) {
      const groups = all(plan, "aws:ec2/securityGroup:SecurityGroup");
      const fence = groups.filter((g) => /-fence$/.test(g.name));
      expect(fence.map((g) => g.name)).toHaveLength(1);
      // No rules at all: an empty egress list also removes AWS's default allow-all egress.
      expect(fence[0]!.props).toMatchObject({ ingress: [], egress: [] });
      // In the database's VPC (a group can only be attached there).
      const dbGroup = groups.find((g) => /-db$/.test(g.name))!;
      expect(fence[0]!.props["vpcId"]).toBe(dbGroup.props["vpcId"]);
      // A later `pulumi up` leaves a fenced instance fenced: the fence swaps its groups outside Pulumi.
      const fenceable = all(plan, "aws:rds/instance:Instance").filter((i) => i.name !== "database-analytics");
      expect(fenceable).toHaveLength(1);
      expect(fenceable[0]!.opts?.ignoreChanges).toContain("vpcSecurityGroupIds");
      if (region === "us-west-2") {
        // The controller runs here: its own region's group, and the primary's from the peer outputs.
        const env = envOf(one(secondary, "kubernetes:apps/v1:Deployment", "operators"));
        expect(env["RDS_SECONDARY_FENCE_SECURITY_GROUP"]).toBe(
          mockResourceId(region, fence[0]!.type, fence[0]!.name),
        );
        expect(env["RDS_PRIMARY_FENCE_SECURITY_GROUP"]).toBe(PRIMARY_DB_FENCE_GROUP);
      }
    }
  });

  it("give each region's API the other region's database for the read canary, as the same login", () => {
    const urls = (plan: PlannedStack) => {
      const secret = one(
        plan,
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "external-secrets-freight-quote-api-database",
      );
      expect(get(secret.props, "spec", "dataFrom", 0, "extract", "key")).toBe(
        "freight/database-service-role",
      );
      return get(secret.props, "spec", "target", "template", "data") as Record<string, string>;
    };
    expect(urls(primary)["READ_CANARY_DATABASE_URL"]).toContain(`@${SECONDARY_DB_ADDRESS}:5432/freight`);
    expect(urls(primary)["DATABASE_URL"]).not.toContain(SECONDARY_DB_ADDRESS);
    expect(urls(secondary)["READ_CANARY_DATABASE_URL"]).toContain(`@${PRIMARY_DB_ADDRESS}:5432/freight`);
  });

  it("may describe and promote exactly the two databases, read the two health checks and UPSERT only the API name's CNAMEs", () => {
    expect(policyOf(secondary, "operators-failover").Statement).toEqual([
      {
        Sid: "DescribeAndPromoteTheTwoDatabases",
        Effect: "Allow",
        Action: ["rds:DescribeDBInstances", "rds:PromoteReadReplica"],
        Resource: [PRIMARY_DB_ARN, replicaArn],
      },
      {
        Sid: "FenceTheTwoDatabases",
        Effect: "Allow",
        Action: ["rds:ModifyDBInstance", "rds:RebootDBInstance"],
        Resource: [PRIMARY_DB_ARN, replicaArn],
      },
      {
        Sid: "ReadTheRegionsHealthChecks",
        Effect: "Allow",
        Action: ["route53:GetHealthCheckStatus"],
        Resource: [
          "arn:aws:route53:::healthcheck/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
          `arn:aws:route53:::healthcheck/${envOf(one(secondary, "kubernetes:apps/v1:Deployment", "operators"))["ROUTE53_SECONDARY_HEALTH_CHECK_ID"]}`,
        ],
      },
      {
        Sid: "ReadApiRecords",
        Effect: "Allow",
        Action: ["route53:ListResourceRecordSets"],
        Resource: "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ",
      },
      {
        Sid: "MoveApiWeights",
        Effect: "Allow",
        Action: ["route53:ChangeResourceRecordSets"],
        Resource: "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ",
        Condition: {
          "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["api.freightrate.example"],
            "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
          },
        },
      },
    ]);
    // Through IRSA on the operators' generated ServiceAccount, and nothing else.
    const role = one(secondary, "aws:iam/role:Role", "operators-failover");
    expect(role.props["assumeRolePolicy"]).toContain(
      "system:serviceaccount:freight-system:freight-operators",
    );
    const account = one(
      secondary,
      "kubernetes:core/v1:ServiceAccount",
      "operators-serviceaccount-freight-operators",
    );
    expect(get(account.props, "metadata", "annotations", "eks.amazonaws.com/role-arn")).toMatch(
      /:role\/operators-failover-/,
    );
  });

  it("deploys the RegionFailover once, where the controller runs, and leaves spec.activeRegion to on-call", () => {
    const failover = one(secondary, "kubernetes:platform.freight.dev/v1alpha1:RegionFailover");
    expect(failover.props).toMatchObject({
      metadata: { name: "prod", namespace: "freight-system" },
      spec: { activeRegion: "primary" },
    });
    expect(failover.opts?.ignoreChanges).toEqual(["spec.activeRegion"]);
    const crd = one(
      secondary,
      "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
      "operators-crd-regionfailovers.platform.freight.dev",
    );
    expect(failover.opts?.dependsOn).toContain(crd.urn);

    expect(all(primary, "kubernetes:platform.freight.dev/v1alpha1:RegionFailover")).toEqual([]);
    expect(
      Object.keys(envOf(one(primary, "kubernetes:apps/v1:Deployment", "operators"))).filter((k) =>
        /^(FAILOVER|RDS|ROUTE53)_/.test(k),
      ),
    ).toEqual([]);
    expect(
      all(primary, "aws:iam/policy:Policy").find((p) => p.name === "operators-failover"),
    ).toBeUndefined();
  });

  it("deploys the spot PricingModel where writes go, with the engine's version as champion, and leaves experiments to ops", () => {
    const model = one(primary, "kubernetes:platform.freight.dev/v1alpha1:PricingModel");
    expect(model.props).toMatchObject({
      metadata: { name: "spot", namespace: "freight-system" },
      spec: { versions: [ENGINE_VERSION], aliases: { champion: PRICING.version } },
    });
    expect(model.opts?.ignoreChanges).toEqual(
      expect.arrayContaining(["spec.aliases", "spec.steps", "spec.paused", "spec.abort"]),
    );
    const crd = one(
      primary,
      "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
      "operators-crd-pricingmodels.platform.freight.dev",
    );
    expect(model.opts?.dependsOn).toContain(crd.urn);
    expect(all(secondary, "kubernetes:platform.freight.dev/v1alpha1:PricingModel")).toEqual([]);
    // Both regions' operators run the controller, configured for the namespace the model lives in.
    for (const plan of [primary, secondary])
      expect(envOf(one(plan, "kubernetes:apps/v1:Deployment", "operators"))).toMatchObject({
        PRICING_NAMESPACE: "freight-system",
        PRICING_ANALYSIS_SECONDS: "60",
      });
  });
});

describe("plan catalogue", () => {
  it("deploys every plan of the catalogue as a Plan object after the CRDs", () => {
    for (const { plan } of stacks()) {
      const plans = all(plan, "kubernetes:platform.freight.dev/v1alpha1:Plan");
      expect(plans.map((p) => p.props)).toEqual(DEFAULT_PLANS.map((d) => planObject(d)));
      const crd = one(
        plan,
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "operators-crd-plans.platform.freight.dev",
      );
      for (const p of plans) expect(p.opts?.dependsOn).toContain(crd.urn);
    }
  });
});

describe("release jobs and scheduled work", () => {
  const job = (plan: PlannedStack, name: string) => one(plan, "kubernetes:batch/v1:Job", name);
  const cron = (plan: PlannedStack, name: string) =>
    one(plan, "kubernetes:batch/v1:CronJob", `scheduled-jobs-${name}`);
  /** The login an ExternalSecret-backed Secret holds, by Secret name. */
  const loginOf = (plan: PlannedStack, secret: string) =>
    get(
      one(plan, "kubernetes:external-secrets.io/v1:ExternalSecret", `external-secrets-freight-${secret}`)
        .props,
      "spec",
      "dataFrom",
      0,
      "extract",
      "key",
    );

  it("migrate each release as the schema owner before any process of the new version starts", () => {
    const migration = job(primary, "migration");
    expect(get(migration.props, "metadata", "name")).toBe("migrate-2026-11-26-3f9c2ab");
    expect(get(migration.props, "metadata", "annotations", "pulumi.com/replaceUnready")).toBe("true");
    const container = get(podSpecOf(migration), "containers", 0) as Record<string, unknown>;
    expect(container["command"]).toEqual(["node", "app/db/migrate.ts"]);
    expect(envOf(migration)["MIGRATIONS_DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/migrations-database/MIGRATIONS_DATABASE_URL",
    );
    expect(loginOf(primary, "migrations-database")).toBe("freight/database-owner-role");
    for (const name of ["quote-api", "runner", "operators"]) {
      expect(one(primary, "kubernetes:apps/v1:Deployment", name).opts?.dependsOn, name).toContain(
        migration.urn,
      );
    }
  });

  it("probe row security as the app role after the rollout, so a leak fails the deploy", () => {
    const probe = job(primary, "isolation-probe");
    expect(get(probe.props, "metadata", "name")).toBe("rls-probe-2026-11-26-3f9c2ab");
    expect(get(probe.props, "spec", "backoffLimit")).toBe(1);
    // Pulumi waits for a Job to complete and fails the update when it fails; no skipAwait here.
    expect(get(probe.props, "metadata", "annotations", "pulumi.com/skipAwait")).toBeUndefined();
    expect((get(podSpecOf(probe), "containers", 0) as Record<string, unknown>)["command"]).toEqual([
      "node",
      "app/ops/rls-probe.ts",
    ]);
    expect(envOf(probe)["DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/quote-api-database/DATABASE_URL",
    );
    for (const name of ["quote-api", "runner"]) {
      expect(probe.opts?.dependsOn).toContain(one(primary, "kubernetes:apps/v1:Deployment", name).urn);
    }
  });

  it("schedule usage warnings nightly as freight_operator and the executive report weekly as freight_ops on the analytics replica", () => {
    const warnings = cron(primary, "usage-warnings");
    expect(get(warnings.props, "spec")).toMatchObject({
      schedule: "0 2 * * *",
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
    });
    expect(envOf(warnings)["OPERATOR_DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/usage-warnings-database/OPERATOR_DATABASE_URL",
    );
    expect(loginOf(primary, "usage-warnings-database")).toBe("freight/database-operator-role");

    const report = cron(primary, "exec-report");
    expect(get(report.props, "spec", "schedule")).toBe("0 6 * * 1");
    expect((get(podSpecOf(report), "containers", 0) as Record<string, unknown>)["command"]).toEqual([
      "node",
      "dashboards/report/main.ts",
      "--prometheus-url",
      "http://prometheus-operated.monitoring.svc:9090",
      "--out",
      "/reports",
      "--no-pdf",
    ]);
    expect(loginOf(primary, "exec-report-database")).toBe("freight/database-ops-role");
    const analytics = one(primary, "aws:rds/instance:Instance", "database-analytics");
    const url = get(
      one(
        primary,
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "external-secrets-freight-exec-report-database",
      ).props,
      "spec",
      "target",
      "template",
      "data",
      "OPS_DATABASE_URL",
    );
    expect(url).toContain(`@${String(analytics.props["identifier"])}.`);
    // The report outlives the pod.
    expect(get(podSpecOf(report), "volumes")).toContainEqual({
      name: "output",
      persistentVolumeClaim: { claimName: "exec-report-output" },
    });
  });

  it("give every job pod the restricted spec, no Kubernetes API token, and only its own login", () => {
    const jobs = [...all(primary, "kubernetes:batch/v1:Job"), ...all(primary, "kubernetes:batch/v1:CronJob")];
    expect(jobs.map((j) => get(j.props, "metadata", "name")).sort()).toEqual([
      "carrier-compliance",
      "dsr-drill",
      "evidence",
      "exec-report",
      "lead-signals",
      "migrate-2026-11-26-3f9c2ab",
      "nps-invitations",
      "onboarding-nudges",
      "pricing-backtest",
      "rls-probe-2026-11-26-3f9c2ab",
      "usage-warnings",
    ]);
    // The evidence job reads the cluster's RBAC and probes isolation: its own account, two logins (below).
    // The pricing backtest reads PricingModels as its own account (below).
    const ownAccount = ["evidence", "pricing-backtest"];
    for (const j of jobs.filter((j) => !ownAccount.includes(String(get(j.props, "metadata", "name"))))) {
      const pod = podSpecOf(j);
      expect(pod["automountServiceAccountToken"], j.name).toBe(false);
      expect(pod["serviceAccountName"], j.name).toBe("default");
      expect(pod["restartPolicy"], j.name).toBe("Never");
      const secrets = ((pod["volumes"] ?? []) as { secret?: { secretName: string } }[]).flatMap((v) =>
        v.secret ? [v.secret.secretName] : [],
      );
      // The lead-signal job also reads the CRM webhook's URL and signing secret; no other login.
      if (get(j.props, "metadata", "name") === "lead-signals")
        expect(secrets.sort(), j.name).toEqual(["crm-webhook", "lead-signals-database"]);
      else expect(secrets, j.name).toHaveLength(1);
    }
  });

  it("schedule the weekly pricing backtest as its own account: get/list PricingModels, the operators' login", () => {
    const backtest = cron(primary, "pricing-backtest");
    expect(get(backtest.props, "spec", "schedule")).toBe("0 4 * * 1");
    const pod = podSpecOf(backtest);
    expect(pod["serviceAccountName"]).toBe("pricing-backtest");
    const env = envOf(backtest);
    expect(env["KUBERNETES_API"]).toBe("in-cluster");
    expect(env["PRICING_MODEL_NAMESPACE"]).toBe("freight-system");
    expect(env["OPERATOR_DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/pricing-backtest-database/OPERATOR_DATABASE_URL",
    );
    const role = all(primary, "kubernetes:rbac.authorization.k8s.io/v1:Role").find(
      (r) => get(r.props, "metadata", "name") === "freight-pricing-backtest",
    );
    expect(get(role!.props, "metadata", "namespace")).toBe("freight-system");
    expect(get(role!.props, "rules")).toEqual([
      { apiGroups: ["platform.freight.dev"], resources: ["pricingmodels"], verbs: ["get", "list"] },
    ]);
    // Scheduled work runs where writes go: nothing of it in the standby region.
    expect(
      all(secondary, "kubernetes:batch/v1:CronJob").map((j) => get(j.props, "metadata", "name")),
    ).not.toContain("pricing-backtest");
  });

  it("schedule the weekly evidence as its own account: RBAC read-only, rotation dates by IRSA, three logins", () => {
    const evidence = cron(primary, "evidence");
    expect(get(evidence.props, "spec", "schedule")).toBe("0 5 * * 1");
    const pod = podSpecOf(evidence);
    expect(pod["serviceAccountName"]).toBe("evidence");
    const env = envOf(evidence);
    expect(env["KUBERNETES_API"]).toBe("in-cluster");
    expect(env["AWS_REGION"]).toBe("us-east-1");
    expect(String(env["SECRETS_ROTATION_WATCH"])).toContain(
      "database-service-role=freight/database-service-role",
    );
    expect(env["DATABASE_URL_FILE"]).toBe("/var/run/secrets/freight/evidence-database/DATABASE_URL");
    expect(env["RLS_PROBE_DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/evidence-probe-database/RLS_PROBE_DATABASE_URL",
    );
    expect(loginOf(primary, "evidence-database")).toBe("freight/database-operator-role");
    expect(loginOf(primary, "evidence-probe-database")).toBe("freight/database-service-role");
    // freight_ops on the analytics replica, as the report: the writer refuses it (migration 0035).
    expect(env["OPS_DATABASE_URL_FILE"]).toBe(
      "/var/run/secrets/freight/evidence-ops-database/OPS_DATABASE_URL",
    );
    expect(loginOf(primary, "evidence-ops-database")).toBe("freight/database-ops-role");
    const analyticsReplica = one(primary, "aws:rds/instance:Instance", "database-analytics");
    expect(
      get(
        one(
          primary,
          "kubernetes:external-secrets.io/v1:ExternalSecret",
          "external-secrets-freight-evidence-ops-database",
        ).props,
        "spec",
        "target",
        "template",
        "data",
        "OPS_DATABASE_URL",
      ),
    ).toContain(`@${String(analyticsReplica.props["identifier"])}.`);
    const reader = one(
      primary,
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
      "evidence-rbac-reader",
    );
    expect(reader.props["rules"]).toEqual([
      {
        apiGroups: ["rbac.authorization.k8s.io"],
        resources: ["clusterrolebindings", "rolebindings", "clusterroles", "roles"],
        verbs: ["get", "list"],
      },
    ]);
    const binding = one(
      primary,
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
      "evidence-rbac-reader",
    );
    expect(binding.props["subjects"]).toEqual([
      { kind: "ServiceAccount", name: "evidence", namespace: "freight" },
    ]);
    const account = one(primary, "kubernetes:core/v1:ServiceAccount", "evidence");
    expect(get(account.props, "metadata", "annotations", "eks.amazonaws.com/role-arn")).toBeDefined();

    // CI's SBOM and OSV report (npm run supply-chain:publish): read from the region's documents
    // bucket, with GetObject on exactly that prefix and the bucket's key only through S3.
    expect(env["EVIDENCE_SUPPLY_CHAIN_S3_URI"]).toBe(
      "s3://freightrate-example-documents-us-east-1/supply-chain",
    );
    const reports = one(primary, "aws:iam/rolePolicy:RolePolicy", "evidence-supply-chain-reports");
    const doc = JSON.parse(reports.props["policy"] as string) as {
      Statement: { Action: string[]; Resource: string; Condition?: unknown }[];
    };
    expect(doc.Statement.map((st) => [st.Action, st.Resource])).toEqual([
      [["s3:GetObject"], "arn:aws:s3:::freightrate-example-documents-us-east-1/supply-chain/*"],
      [["kms:Decrypt"], expect.stringMatching(/^arn:aws:kms:us-east-1:/)],
    ]);
    expect(doc.Statement[1]!.Condition).toEqual({
      StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
    });
    expect(reports.props["role"]).toMatch(/^evidence/);
  });

  it("run only in the active region: the standby's database is a read-only replica", () => {
    expect(all(secondary, "kubernetes:batch/v1:Job")).toEqual([]);
    expect(all(secondary, "kubernetes:batch/v1:CronJob")).toEqual([]);
    expect(one(secondary, "kubernetes:apps/v1:Deployment", "quote-api").opts?.dependsOn ?? []).not.toEqual(
      expect.arrayContaining([expect.stringContaining("batch/v1:Job")]),
    );
  });
});

describe("monitoring", () => {
  it("ships the generated dashboards as sidecar-labelled ConfigMaps and the SLO rules as a PrometheusRule", () => {
    for (const { plan } of stacks()) {
      const configMaps = all(plan, "kubernetes:core/v1:ConfigMap").filter(
        (c) => get(c.props, "metadata", "labels", "grafana_dashboard") === "1",
      );
      const shipped = Object.assign(
        {},
        ...configMaps.map((c) => c.props["data"] as Record<string, string>),
      ) as Record<string, string>;
      const expected = grafanaDashboards();
      expect(Object.keys(shipped).sort()).toEqual(Object.keys(expected).sort());
      for (const [file, dashboard] of Object.entries(expected)) {
        expect(JSON.parse(shipped[file]!)).toEqual(JSON.parse(JSON.stringify(dashboard)));
      }

      const rule = one(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule");
      expect(rule.props["spec"]).toEqual(JSON.parse(JSON.stringify(prometheusRuleGroups())));
      const scraped = all(plan, "kubernetes:monitoring.coreos.com/v1:PodMonitor").map((m) =>
        get(m.props, "spec", "selector", "matchLabels", "app.kubernetes.io/name"),
      );
      expect(scraped.sort()).toEqual(["freight-operators", "quote-api", "runner"]);
    }
  });
});

describe("primary stack", () => {
  it("runs an encrypted, Multi-AZ, protected primary with 7+ days of backups, and an in-region analytics replica", () => {
    const key = one(primary, "aws:kms/key:Key", "database-key");
    const keyArn = `arn:aws:kms:us-east-1:123456789012:key/${mockResourceId("us-east-1", key.type, key.name)}`;
    const db = one(primary, "aws:rds/instance:Instance", "database-primary");
    expect(db.props).toMatchObject({
      engine: "postgres",
      storageEncrypted: true,
      kmsKeyId: keyArn,
      multiAz: true,
      deletionProtection: true,
      publiclyAccessible: false,
      manageMasterUserPassword: true,
    });
    expect(db.props["backupRetentionPeriod"]).toBeGreaterThanOrEqual(7);
    expect(db.opts?.protect).toBe(true);

    const analytics = one(primary, "aws:rds/instance:Instance", "database-analytics");
    expect(analytics.props).toMatchObject({
      replicateSourceDb: "freight-us-east-1-primary",
      storageEncrypted: true,
      kmsKeyId: keyArn,
      publiclyAccessible: false,
    });
  });

  it("replicates documents to the secondary's bucket with RTC, delete markers and its own IAM role", () => {
    const replication = one(primary, "aws:s3/bucketReplicationConfig:BucketReplicationConfig");
    const rule = get(replication.props, "rules", 0) as Record<string, unknown>;
    expect(rule).toMatchObject({
      status: "Enabled",
      deleteMarkerReplication: { status: "Enabled" },
      destination: {
        bucket: SECONDARY_BUCKET_ARN,
        encryptionConfiguration: { replicaKmsKeyId: SECONDARY_DOCS_KEY },
        replicationTime: { status: "Enabled", time: { minutes: 15 } },
        metrics: { status: "Enabled" },
      },
    });
    const role = one(primary, "aws:iam/role:Role", "documents-replication");
    expect(replication.props["role"]).toMatch(/:role\/documents-replication-/);
    expect(role.props["assumeRolePolicy"]).toContain("s3.amazonaws.com");
    const policy = one(primary, "aws:iam/rolePolicy:RolePolicy", "documents-replication");
    expect(policy.props["policy"]).toContain(`${SECONDARY_BUCKET_ARN}/*`);
    expect(policy.props["policy"]).toContain(SECONDARY_DOCS_KEY);
    // Versioning must be on before S3 accepts a replication configuration.
    const versioning = one(primary, "aws:s3/bucketVersioning:BucketVersioning", "documents-versioning");
    expect(replication.opts?.dependsOn).toContain(versioning.urn);
  });

  it("owns the secrets, rotating API keys every 30 days and service roles every 90, replicated to the secondary", () => {
    const secrets = all(primary, "aws:secretsmanager/secret:Secret");
    expect(secrets.map((s) => s.props["name"]).sort()).toEqual([
      "freight/alert-receiver-token",
      "freight/console-session-secret",
      "freight/crm-webhook-secret",
      "freight/crm-webhook-url",
      "freight/database-operator-role",
      "freight/database-ops-role",
      "freight/database-owner-role",
      "freight/database-runner-role",
      "freight/database-service-role",
      "freight/llm-provider-api-key",
      "freight/ops-webhook-url",
      "freight/workflow-automation-api-key",
    ]);
    for (const s of secrets) expect(s.props["replicas"]).toEqual([{ region: "us-west-2" }]);
    const days = rotationDays(primary);
    expect(days).toEqual({
      "freight/llm-provider-api-key": 30,
      "freight/workflow-automation-api-key": 30,
      "freight/database-service-role": 90,
      "freight/database-operator-role": 90,
      "freight/database-runner-role": 90,
      "freight/database-owner-role": 90,
      "freight/database-ops-role": 90,
      "freight/ops-webhook-url": 30,
      "freight/alert-receiver-token": 30,
      "freight/crm-webhook-url": 30,
      "freight/crm-webhook-secret": 30,
      "freight/console-session-secret": 30,
    });
    for (const r of all(primary, "aws:secretsmanager/secretRotation:SecretRotation")) {
      expect(r.props["rotationLambdaArn"]).toBe(
        "arn:aws:lambda:us-east-1:123456789012:function:secrets-rotation",
      );
    }
  });
});

describe("secondary stack", () => {
  it("replicates the primary's database through the stack reference, encrypted with its own region's key", () => {
    const replica = one(secondary, "aws:rds/instance:Instance");
    expect(replica.name).toBe("database-replica");
    expect(replica.props["replicateSourceDb"]).toBe(PRIMARY_DB_ARN);
    expect(replica.props["kmsKeyId"]).toMatch(/^arn:aws:kms:us-west-2:/);
    expect(replica.props).toMatchObject({
      storageEncrypted: true,
      deletionProtection: true,
      publiclyAccessible: false,
    });
    expect(replica.props["backupRetentionPeriod"]).toBeGreaterThanOrEqual(7);
    expect(replica.opts).toMatchObject({
      protect: true,
      ignoreChanges: ["replicateSourceDb", "vpcSecurityGroupIds"],
    });
  });

  it("does not replicate documents and creates no secrets of its own", () => {
    expect(all(secondary, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toEqual([]);
    expect(
      all(secondary, "aws:iam/role:Role").find((r) => r.name === "documents-replication"),
    ).toBeUndefined();
    expect(all(secondary, "aws:secretsmanager/secret:Secret")).toEqual([]);
    expect(all(secondary, "aws:secretsmanager/secretRotation:SecretRotation")).toEqual([]);
    // It reads the local replicas of the primary's secrets.
    const read = one(secondary, "aws:iam/policy:Policy", "secrets-read");
    expect(read.props["policy"]).toContain(
      "arn:aws:secretsmanager:us-west-2:123456789012:secret:freight/database-service-role-Ab12Cd",
    );
    expect(read.props["policy"]).not.toContain(":us-east-1:");
  });
});

describe("edge", () => {
  const DISTRIBUTION = "aws:cloudfront/distribution:Distribution";
  type Behaviour = {
    pathPattern?: string;
    targetOriginId: string;
    allowedMethods: string[];
    viewerProtocolPolicy: string;
    cachePolicyId: string;
    originRequestPolicyId: string;
    functionAssociations: { eventType: string; functionArn: string }[];
  };
  const behaviours = (distribution: { props: Record<string, unknown> }) => [
    distribution.props["defaultCacheBehavior"] as Behaviour,
    ...(distribution.props["orderedCacheBehaviors"] as Behaviour[]),
  ];

  it("puts one distribution in front of both regions' API names, declared by the primary only", () => {
    expect(all(secondary, DISTRIBUTION)).toEqual([]);
    expect(secondary.resources.filter((r) => r.type.startsWith("aws:cloudfront/"))).toEqual([]);
    const distribution = one(primary, DISTRIBUTION);
    expect(distribution.props["aliases"]).toEqual(["edge.api.freightrate.example"]);
    expect(get(distribution.props, "origins")).toEqual([
      expect.objectContaining({
        originId: "api-primary",
        domainName: "us-east-1.api.freightrate.example",
        customOriginConfig: expect.objectContaining({
          originProtocolPolicy: "https-only",
          originSslProtocols: ["TLSv1.2"],
        }),
      }),
      expect.objectContaining({ originId: "api-secondary", domainName: "us-west-2.api.freightrate.example" }),
    ]);
    const alias = all(primary, "aws:route53/record:Record").filter(
      (r) => r.props["name"] === "edge.api.freightrate.example",
    );
    expect(alias.map((r) => r.props["type"]).sort()).toEqual(["A", "AAAA"]);
    for (const record of alias)
      expect(get(record.props, "aliases", 0, "name")).toMatch(/^d[0-9a-f]+\.cloudfront\.net$/);
  });

  it("fails reads over from the active region to the other on 5xx or a timeout, and sends writes to the active region", () => {
    const distribution = one(primary, DISTRIBUTION);
    expect(get(distribution.props, "originGroups", 0)).toEqual({
      originId: "api-failover",
      failoverCriteria: { statusCodes: [500, 502, 503, 504] },
      members: [{ originId: "api-primary" }, { originId: "api-secondary" }],
    });
    const [fallback, ...readOnly] = behaviours(distribution);
    expect(fallback).toMatchObject({ targetOriginId: "api-primary" });
    expect(fallback!.allowedMethods).toEqual(expect.arrayContaining(["POST", "PUT", "PATCH", "DELETE"]));
    expect(readOnly.length).toBeGreaterThan(0);
    for (const behaviour of readOnly) {
      // CloudFront fails over only GET, HEAD and OPTIONS, and refuses writes on an origin group.
      expect(behaviour).toMatchObject({
        targetOriginId: "api-failover",
        allowedMethods: ["GET", "HEAD", "OPTIONS"],
      });
    }
    for (const origin of get(distribution.props, "origins") as Record<string, unknown>[])
      expect(origin).toMatchObject({ connectionAttempts: 3, connectionTimeout: 5 });
  });

  it("caches nothing, forwards every viewer header (Authorization included) and serves HTTPS with TLS 1.2+ on the us-east-1 API certificate", () => {
    const distribution = one(primary, DISTRIBUTION);
    const certificate = one(primary, "aws:acm/certificate:Certificate");
    for (const behaviour of behaviours(distribution)) {
      expect(behaviour).toMatchObject({
        viewerProtocolPolicy: "https-only",
        cachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        originRequestPolicyId: "b689b0a8-53d0-40ab-baf2-68738e2966ac",
      });
    }
    const certificateArn = mockResourceId("us-east-1", certificate.type, certificate.name, certificate.props);
    expect(certificateArn).toMatch(/^arn:aws:acm:us-east-1:/);
    expect(get(distribution.props, "viewerCertificate")).toEqual({
      acmCertificateArn: certificateArn,
      sslSupportMethod: "sni-only",
      minimumProtocolVersion: "TLSv1.2_2021",
    });
  });

  it("logs every request to a private, encrypted bucket that keeps logs for the configured days", () => {
    const distribution = one(primary, DISTRIBUTION);
    const bucket = one(primary, "aws:s3/bucket:Bucket", "edge-logs");
    expect(get(distribution.props, "loggingConfig", "bucket")).toBe(
      `${bucket.props["bucket"]}.s3.amazonaws.com`,
    );
    const lifecycle = one(
      primary,
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "edge-logs-lifecycle",
    );
    expect(get(lifecycle.props, "rules", 0, "expiration", "days")).toBe(365);
    expect(
      get(
        one(primary, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "edge-logs-ownership").props,
        "rule",
        "objectOwnership",
      ),
    ).toBe("BucketOwnerPreferred");
    const key = JSON.parse(one(primary, "aws:kms/key:Key", "edge-logs-key").props["policy"] as string);
    expect(key.Statement).toContainEqual(
      expect.objectContaining({
        Principal: { Service: "delivery.logs.amazonaws.com" },
        Action: "kms:GenerateDataKey*",
      }),
    );
  });

  it("deploys the edge function once, from its source file, on every behaviour, with the state store it reads", () => {
    const fn = one(primary, "aws:cloudfront/function:Function");
    const store = one(primary, "aws:cloudfront/keyValueStore:KeyValueStore");
    expect(fn.props).toMatchObject({ runtime: "cloudfront-js-2.0", publish: true, code: edgeFunctionCode() });
    expect(store.props["name"]).toBe("freight-edge-state");
    expect(fn.props["keyValueStoreAssociations"]).toEqual([
      expect.stringMatching(/^arn:aws:cloudfront::123456789012:key-value-store\//),
    ]);
    const functionArn = `arn:aws:cloudfront::123456789012:function/${String(fn.props["name"])}`;
    for (const behaviour of behaviours(one(primary, DISTRIBUTION)))
      expect(behaviour.functionAssociations).toEqual([{ eventType: "viewer-request", functionArn }]);
  });

  it(
    "asks for a second certificate in us-east-1 when the declaring stack runs elsewhere (CloudFront reads only us-east-1)",
    async () => {
      const plan = await planStack("prod-primary", {
        config: {
          ...manifests,
          region: "us-east-2",
          secretRotationLambdaArn: "arn:aws:lambda:us-east-2:123456789012:function:secrets-rotation",
        },
        peerOutputs: {
          documentsBucketArn: SECONDARY_BUCKET_ARN,
          documentsKmsKeyArn: SECONDARY_DOCS_KEY,
          replicaDbAddress: SECONDARY_DB_ADDRESS,
        },
      });
      const certificates = all(plan, "aws:acm/certificate:Certificate");
      expect(certificates.map((c) => c.name).sort()).toEqual([
        "api-certificate-certificate",
        "edge-certificate-certificate",
      ]);
      const edgeCertificate = certificates.find((c) => c.name === "edge-certificate-certificate")!;
      const provider = plan.resources.find((r) => edgeCertificate.provider?.startsWith(`${r.urn}::`))!;
      expect(provider.props["region"]).toBe("us-east-1");
      // The mocks name ARNs after the stack's region; the provider above is what places it in us-east-1.
      expect(get(one(plan, DISTRIBUTION).props, "viewerCertificate", "acmCertificateArn")).toBe(
        mockResourceId("us-east-2", edgeCertificate.type, edgeCertificate.name, edgeCertificate.props),
      );
      expect(get(one(plan, DISTRIBUTION).props, "origins", 0, "domainName")).toBe(
        "us-east-2.api.freightrate.example",
      );
    },
    PLAN_TIMEOUT,
  );
});

describe("bootstrap order", () => {
  it(
    "stops the secondary with an error naming the stack to apply first when the primary has not exported its ARN",
    async () => {
      const failure = planStack("prod-secondary", { config: manifests, peerOutputs: {} });
      await expect(failure).rejects.toBeInstanceOf(PlanError);
      await expect(failure).rejects.toMatchObject({
        kind: "PeerOutputMissingError",
        missing: expect.arrayContaining(["primaryDbArn"]),
        message: expect.stringContaining("pulumi up --stack acme/freight-platform/prod-primary"),
      });
    },
    PLAN_TIMEOUT,
  );

  it(
    "lets the first primary deployment run without the secondary when replication is off",
    async () => {
      const plan = await planStack("prod-primary", {
        config: { ...manifests, documentsReplication: "false", readCanary: "off" },
        peerOutputs: {},
      });
      expect(all(plan, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toEqual([]);
      expect(all(plan, "aws:rds/instance:Instance")).toHaveLength(2);

      await expect(planStack("prod-primary", { config: manifests, peerOutputs: {} })).rejects.toMatchObject({
        missing: ["documentsBucketArn", "documentsKmsKeyArn", "replicaDbAddress"],
        message: expect.stringMatching(/freight:documentsReplication false.*freight:readCanary off/),
      });
    },
    PLAN_TIMEOUT,
  );
});

describe("planStack", () => {
  it(
    "rejects a broken config with every problem listed",
    async () => {
      const failure = planStack("prod-primary", {
        config: {
          ...manifests,
          role: "leader",
          quoteApiImageTag: "2026.12.01-9e1d2c4",
          dbBackupRetentionDays: "1",
        },
      });
      await expect(failure).rejects.toMatchObject({
        kind: "StackConfigError",
        problems: [
          expect.objectContaining({ key: "freight:role" }),
          expect.objectContaining({ key: "freight:dbBackupRetentionDays" }),
          expect.objectContaining({
            key: "freight:quoteApiImageTag",
            problem: expect.stringContaining("is a tag without a digest"),
          }),
        ],
      });
    },
    PLAN_TIMEOUT,
  );

  it("applies a transform to every resource and drops those it returns undefined for", () => {
    const plan = transformPlan(secondary, (r) =>
      r.type.startsWith("kubernetes:") ? undefined : { ...r, name: `x-${r.name}` },
    );
    expect(plan.resources.length).toBeGreaterThan(50);
    expect(plan.resources.some((r) => r.type.startsWith("kubernetes:"))).toBe(false);
    expect(plan.resources.every((r) => r.name.startsWith("x-"))).toBe(true);
  });

  it("names the known stacks when asked for one that does not exist", async () => {
    await expect(planStack("prod-tertiary")).rejects.toThrow(/Known stacks: prod-primary, prod-secondary/);
  });
});
