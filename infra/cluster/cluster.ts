// EKS cluster for one region: a managed node group for the API and operators, and a tainted,
// autoscaled node group that only runners land on, so a burst of bulk-rating jobs cannot starve
// quote latency. Control-plane logs are on and the API endpoint is private (plus an allow-list).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export const RUNNER_POOL_LABEL = "freight.io/pool";

export interface NodePoolSize {
  instanceType: string;
  min: number;
  max: number;
}

export interface ClusterArgs {
  name: string;
  region: string;
  version: string;
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<string>[];
  /** CIDRs allowed to reach the public endpoint; empty keeps the endpoint private-only. */
  publicAccessCidrs: string[];
  appNodes: NodePoolSize;
  runnerNodes: NodePoolSize;
  logRetentionDays?: number;
}

const CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"];

function assumableBy(service: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  });
}

export class Cluster extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  readonly certificateAuthority: pulumi.Output<string>;
  readonly oidcProviderArn: pulumi.Output<string>;
  /** Issuer host/path without scheme, the form IAM trust-policy condition keys use. */
  readonly oidcIssuer: pulumi.Output<string>;
  readonly clusterSecurityGroupId: pulumi.Output<string>;
  readonly kubeconfig: pulumi.Output<string>;
  readonly runnerNodeGroupName: pulumi.Output<string>;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:cluster:Cluster", name, {}, opts);
    const parent = { parent: this };

    const secretsKey = new aws.kms.Key(
      `${name}-secrets`,
      { description: `Envelope encryption of Kubernetes secrets in ${args.name}`, enableKeyRotation: true },
      { parent: this, protect: true },
    );

    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-control-plane`,
      // EKS writes to this exact name; creating it first lets us own the retention.
      { name: `/aws/eks/${args.name}/cluster`, retentionInDays: args.logRetentionDays ?? 90 },
      parent,
    );

    const clusterRole = new aws.iam.Role(
      `${name}-control-plane`,
      { assumeRolePolicy: assumableBy("eks.amazonaws.com") },
      parent,
    );
    const clusterPolicy = new aws.iam.RolePolicyAttachment(
      `${name}-control-plane`,
      { role: clusterRole.name, policyArn: "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy" },
      parent,
    );

    const cluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        name: args.name,
        version: args.version,
        roleArn: clusterRole.arn,
        vpcConfig: {
          subnetIds: args.privateSubnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: args.publicAccessCidrs.length > 0,
          publicAccessCidrs: args.publicAccessCidrs.length > 0 ? args.publicAccessCidrs : undefined,
        },
        accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: true },
        enabledClusterLogTypes: CONTROL_PLANE_LOGS,
        encryptionConfig: { resources: ["secrets"], provider: { keyArn: secretsKey.arn } },
      },
      { parent: this, dependsOn: [clusterPolicy, logGroup] },
    );

    // The VPC CNI with its network policy agent: without it EKS stores the NetworkPolicies the stacks
    // declare (infra/workloads/network-policies.ts) and enforces none of them.
    new aws.eks.Addon(
      `${name}-vpc-cni`,
      {
        clusterName: cluster.name,
        addonName: "vpc-cni",
        configurationValues: JSON.stringify({ enableNetworkPolicy: "true" }),
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: "OVERWRITE",
      },
      parent,
    );

    const issuerUrl = cluster.identities.apply((ids) => ids[0]?.oidcs?.[0]?.issuer ?? "");
    const oidc = new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuerUrl, clientIdLists: ["sts.amazonaws.com"] },
      parent,
    );

    const nodeRole = new aws.iam.Role(
      `${name}-nodes`,
      { assumeRolePolicy: assumableBy("ec2.amazonaws.com") },
      parent,
    );
    const nodePolicies = [
      "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
      "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    ].map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(`${name}-nodes-${i}`, { role: nodeRole.name, policyArn }, parent),
    );

    new aws.eks.NodeGroup(
      `${name}-app`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: args.privateSubnetIds,
        instanceTypes: [args.appNodes.instanceType],
        scalingConfig: {
          minSize: args.appNodes.min,
          maxSize: args.appNodes.max,
          desiredSize: args.appNodes.min,
        },
        updateConfig: { maxUnavailable: 1 },
        labels: { [RUNNER_POOL_LABEL]: "app" },
      },
      // The cluster autoscaler owns desiredSize at run time.
      { parent: this, dependsOn: nodePolicies, ignoreChanges: ["scalingConfig.desiredSize"] },
    );

    const runnerNodes = new aws.eks.NodeGroup(
      `${name}-runners`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: args.privateSubnetIds,
        instanceTypes: [args.runnerNodes.instanceType],
        scalingConfig: {
          minSize: args.runnerNodes.min,
          maxSize: args.runnerNodes.max,
          desiredSize: args.runnerNodes.min,
        },
        updateConfig: { maxUnavailable: 1 },
        labels: { [RUNNER_POOL_LABEL]: "runners" },
        taints: [{ key: RUNNER_POOL_LABEL, value: "runners", effect: "NO_SCHEDULE" }],
        tags: {
          // Auto-discovery tags the cluster autoscaler (infra/runners) selects node groups by.
          "k8s.io/cluster-autoscaler/enabled": "true",
          [`k8s.io/cluster-autoscaler/${args.name}`]: "owned",
        },
      },
      { parent: this, dependsOn: nodePolicies, ignoreChanges: ["scalingConfig.desiredSize"] },
    );

    this.name = cluster.name;
    this.endpoint = cluster.endpoint;
    this.certificateAuthority = cluster.certificateAuthority.apply((ca) => ca.data);
    this.oidcProviderArn = oidc.arn;
    this.oidcIssuer = issuerUrl.apply((u) => u.replace(/^https:\/\//, ""));
    this.clusterSecurityGroupId = cluster.vpcConfig.apply((v) => v.clusterSecurityGroupId);
    this.runnerNodeGroupName = runnerNodes.nodeGroupName;
    this.kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, this.certificateAuthority])
      .apply(([clusterName, endpoint, ca]) => kubeconfigFor(clusterName, endpoint, ca, args.region));
    this.registerOutputs({ name: this.name, endpoint: this.endpoint, oidcProviderArn: this.oidcProviderArn });
  }
}

/** Kubeconfig that authenticates with `aws eks get-token`, so no long-lived token is stored in state. */
export function kubeconfigFor(clusterName: string, endpoint: string, caData: string, region: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: clusterName, cluster: { server: endpoint, "certificate-authority-data": caData } }],
    contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
    "current-context": clusterName,
    users: [
      {
        name: clusterName,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["eks", "get-token", "--cluster-name", clusterName, "--region", region, "--output", "json"],
          },
        },
      },
    ],
  });
}
