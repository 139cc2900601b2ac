// Runners that scale with the queue: KEDA turns queue depth (a SQL count on the jobs table) into
// runner replicas, and the cluster autoscaler turns pending runner pods into runner nodes.
// The secondary idles at its own (usually zero) minimum and wakes when its queue fills.
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { QUEUE_DEPTH_SQL } from "../../app/jobs/scaling.ts";
import { serviceAccountRole } from "../cluster/irsa.ts";

export const KEDA_NAMESPACE = "keda";
/** Queued jobs one runner is expected to work through before KEDA adds another. */
export const JOBS_PER_RUNNER = 20;

export interface RunnersArgs {
  clusterName: pulumi.Input<string>;
  region: string;
  namespace: pulumi.Input<string>;
  runnerDeploymentName: pulumi.Input<string>;
  minReplicas: number;
  maxReplicas: number;
  kedaChartVersion: string;
  clusterAutoscalerChartVersion: string;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
}

export class Runners extends pulumi.ComponentResource {
  readonly scaledObjectName: pulumi.Output<string>;

  constructor(name: string, args: RunnersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:runners:Runners", name, {}, opts);
    const parent = { parent: this };

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
      parent,
    );

    const scaledObject = new k8s.apiextensions.CustomResource(
      `${name}-queue-depth`,
      {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: "runner-queue-depth", namespace: args.namespace },
        spec: {
          scaleTargetRef: { name: args.runnerDeploymentName },
          minReplicaCount: args.minReplicas,
          maxReplicaCount: args.maxReplicas,
          pollingInterval: 15,
          // Scale-in waits five minutes so a bursty bulk upload does not flap the pool.
          cooldownPeriod: 300,
          triggers: [
            {
              type: "postgresql",
              metadata: {
                // Read from the runner container's env, which comes from the synced Secret.
                connectionFromEnv: "DATABASE_URL",
                query: QUEUE_DEPTH_SQL,
                targetQueryValue: String(JOBS_PER_RUNNER),
                activationTargetQueryValue: "0",
              },
            },
          ],
        },
      },
      { parent: this, dependsOn: [keda] },
    );

    // Cluster autoscaler: only the node groups tagged for this cluster, only the calls it needs.
    const autoscalerPolicy = new aws.iam.Policy(
      `${name}-cluster-autoscaler`,
      {
        description: "Cluster autoscaler: resize this cluster's tagged node groups",
        policy: pulumi.output(args.clusterName).apply((clusterName) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "Discover",
                Effect: "Allow",
                Action: [
                  "autoscaling:DescribeAutoScalingGroups",
                  "autoscaling:DescribeAutoScalingInstances",
                  "autoscaling:DescribeLaunchConfigurations",
                  "autoscaling:DescribeScalingActivities",
                  "autoscaling:DescribeTags",
                  "ec2:DescribeImages",
                  "ec2:DescribeInstanceTypes",
                  "ec2:DescribeLaunchTemplateVersions",
                  "ec2:GetInstanceTypesFromInstanceRequirements",
                  "eks:DescribeNodegroup",
                ],
                Resource: "*",
              },
              {
                Sid: "ResizeOwnNodeGroups",
                Effect: "Allow",
                Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                Resource: "*",
                Condition: {
                  StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" },
                },
              },
            ],
          }),
        ),
      },
      parent,
    );
    const autoscalerRole = serviceAccountRole(
      `${name}-cluster-autoscaler`,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: "kube-system",
        serviceAccount: "cluster-autoscaler",
        policyArns: [autoscalerPolicy.arn],
      },
      parent,
    );
    new k8s.helm.v3.Release(
      `${name}-cluster-autoscaler`,
      {
        chart: "cluster-autoscaler",
        version: args.clusterAutoscalerChartVersion,
        repositoryOpts: { repo: "https://kubernetes.github.io/autoscaler" },
        namespace: "kube-system",
        values: {
          cloudProvider: "aws",
          awsRegion: args.region,
          autoDiscovery: { clusterName: args.clusterName },
          rbac: {
            serviceAccount: {
              name: "cluster-autoscaler",
              annotations: { "eks.amazonaws.com/role-arn": autoscalerRole.arn },
            },
          },
          extraArgs: { "balance-similar-node-groups": true, expander: "least-waste" },
          resources: { requests: { cpu: "100m", memory: "300Mi" }, limits: { cpu: "500m", memory: "600Mi" } },
        },
      },
      parent,
    );

    this.scaledObjectName = scaledObject.metadata.name;
    this.registerOutputs({ scaledObjectName: this.scaledObjectName });
  }
}
