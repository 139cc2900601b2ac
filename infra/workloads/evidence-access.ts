// What the weekly evidence job may see beyond its database logins: the RBAC actually granted in the
// cluster (a ClusterRole reading bindings and roles, nothing else) and, through IRSA, when each
// platform secret was rotated (DescribeSecret: metadata, never a value), and CI's SBOM and OSV report
// (GetObject on exactly their prefix of the documents bucket). Its own ServiceAccount, so
// no other job or Deployment inherits either.
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { serviceAccountRole } from "../cluster/irsa.ts";
import { policyDocument } from "../documents/bucket-policy.ts";

export interface EvidenceAccessArgs {
  namespace: k8s.core.v1.Namespace;
  namespaceName: string;
  serviceAccount: string;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  /** DescribeSecret on exactly the platform secrets (infra/secrets/secrets.ts). */
  describePolicyArn: pulumi.Input<string>;
  /** The published supply-chain reports (npm run supply-chain:publish): read-only on this prefix. */
  supplyChainReports: {
    bucketArn: pulumi.Input<string>;
    prefix: string;
    region: string;
    /** The bucket's KMS key: S3 decrypts with it on the reader's behalf. */
    kmsKeyArn: pulumi.Input<string>;
  };
}

export const EVIDENCE_RBAC_READER = "freight-evidence-rbac-reader";

export class EvidenceAccess extends pulumi.ComponentResource {
  /** What the CronJob waits for: the account and its binding. */
  readonly resources: pulumi.Resource[];
  readonly role: aws.iam.Role;

  constructor(name: string, args: EvidenceAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:EvidenceAccess", name, {}, opts);
    this.role = serviceAccountRole(
      name,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: args.namespaceName,
        serviceAccount: args.serviceAccount,
        policyArns: [args.describePolicyArn],
      },
      { parent: this },
    );
    const reports = args.supplyChainReports;
    new aws.iam.RolePolicy(
      `${name}-supply-chain-reports`,
      {
        role: this.role.name,
        policy: pulumi.all([reports.bucketArn, reports.kmsKeyArn]).apply(([bucketArn, keyArn]) =>
          policyDocument([
            {
              Sid: "SupplyChainReports",
              Effect: "Allow",
              Action: ["s3:GetObject"],
              Resource: `${bucketArn}/${reports.prefix}/*`,
            },
            {
              // Only through S3: the key decrypts these reports for this role, not documents fetched otherwise.
              Sid: "SupplyChainReportsKey",
              Effect: "Allow",
              Action: ["kms:Decrypt"],
              Resource: keyArn,
              Condition: { StringEquals: { "kms:ViaService": `s3.${reports.region}.amazonaws.com` } },
            },
          ]),
        ),
      },
      { parent: this },
    );
    const account = new k8s.core.v1.ServiceAccount(
      name,
      {
        metadata: {
          name: args.serviceAccount,
          namespace: args.namespaceName,
          annotations: { "eks.amazonaws.com/role-arn": this.role.arn },
        },
      },
      { parent: this, dependsOn: [args.namespace] },
    );
    const reader = new k8s.rbac.v1.ClusterRole(
      `${name}-rbac-reader`,
      {
        metadata: { name: EVIDENCE_RBAC_READER },
        rules: [
          {
            apiGroups: ["rbac.authorization.k8s.io"],
            resources: ["clusterrolebindings", "rolebindings", "clusterroles", "roles"],
            verbs: ["get", "list"],
          },
        ],
      },
      { parent: this },
    );
    const binding = new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-rbac-reader`,
      {
        metadata: { name: EVIDENCE_RBAC_READER },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: EVIDENCE_RBAC_READER },
        subjects: [{ kind: "ServiceAccount", name: args.serviceAccount, namespace: args.namespaceName }],
      },
      { parent: this, dependsOn: [account, reader] },
    );
    this.resources = [account, binding];
    this.registerOutputs({ roleArn: this.role.arn });
  }
}
