// Cluster autoscaler: turns pending pods into nodes of this cluster's tagged node groups (the
// runner pool wakes from zero when KEDA adds runner replicas). It may resize only node groups
// tagged as owned by this cluster, through its own IRSA role.
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { movedFrom } from "../moved.ts";
import { serviceAccountRole } from "./irsa.ts";

export interface ClusterAutoscalerArgs {
  clusterName: pulumi.Input<string>;
  region: string;
  chartVersion: string;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
}

export class ClusterAutoscaler extends pulumi.ComponentResource {
  constructor(name: string, args: ClusterAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:cluster:ClusterAutoscaler", name, {}, opts);

    // Only the node groups tagged for this cluster, only the calls it needs.
    const policy = new aws.iam.Policy(
      name,
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
      { parent: this, aliases: movedFrom("runners", "runners-cluster-autoscaler") },
    );
    const role = serviceAccountRole(
      name,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: "kube-system",
        serviceAccount: "cluster-autoscaler",
        policyArns: [policy.arn],
        formerly: { component: "runners", name: "runners-cluster-autoscaler" },
      },
      { parent: this },
    );
    new k8s.helm.v3.Release(
      name,
      {
        chart: "cluster-autoscaler",
        version: args.chartVersion,
        repositoryOpts: { repo: "https://kubernetes.github.io/autoscaler" },
        namespace: "kube-system",
        values: {
          cloudProvider: "aws",
          awsRegion: args.region,
          autoDiscovery: { clusterName: args.clusterName },
          rbac: {
            serviceAccount: {
              name: "cluster-autoscaler",
              annotations: { "eks.amazonaws.com/role-arn": role.arn },
            },
          },
          extraArgs: { "balance-similar-node-groups": true, expander: "least-waste" },
          resources: { requests: { cpu: "100m", memory: "300Mi" }, limits: { cpu: "500m", memory: "600Mi" } },
        },
      },
      { parent: this, aliases: movedFrom("runners", "runners-cluster-autoscaler") },
    );
    this.registerOutputs({});
  }
}
