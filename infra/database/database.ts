// RDS PostgreSQL for one region, shaped by the region's role:
// - primary: the writable, Multi-AZ instance plus an in-region read replica for analytics, so
//   reporting queries never run on the instance that serves quotes;
// - secondary: a cross-region read replica of the primary (source ARN from the primary stack),
//   encrypted with this region's key, that the failover runbook promotes.
// Instances and keys are protected: replacing one by accident loses the system of record.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { RegionRole } from "../../stacks/config.ts";

export interface DatabaseArgs {
  role: RegionRole;
  /** Prefix of instance identifiers, e.g. "freight-us-east-1". */
  identifier: string;
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<string>[];
  /** Security group of the EKS nodes/pods allowed to connect on 5432. */
  clientSecurityGroupId: pulumi.Input<string>;
  instanceClass: string;
  engineVersion: string;
  allocatedStorageGb: number;
  maxAllocatedStorageGb: number;
  backupRetentionDays: number;
  multiAz: boolean;
  /** Primary only: size of the analytics read replica. */
  analyticsReplicaInstanceClass?: string;
  /** Secondary only: ARN of the primary instance (a StackReference output). */
  sourceDbArn?: pulumi.Input<string>;
}

export const DATABASE_NAME = "freight";
export const DATABASE_PORT = 5432;

export class Database extends pulumi.ComponentResource {
  /** The instance in this region: the writer on the primary, the promotable replica on the secondary. */
  readonly arn: pulumi.Output<string>;
  readonly instanceIdentifier: pulumi.Output<string>;
  readonly address: pulumi.Output<string>;
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly analyticsReplicaArn?: pulumi.Output<string>;
  readonly analyticsReplicaAddress?: pulumi.Output<string>;
  /** Secrets Manager secret RDS manages for the master user (primary only). */
  readonly masterUserSecretArn?: pulumi.Output<string>;
  /**
   * A security group with no rules at all, beside the database: the failover controller fences an
   * old primary by making it the instance's only group (then reboots it), so no client reaches it.
   */
  readonly fenceSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:database:Database", name, {}, opts);
    const parent = { parent: this };
    const protectedChild = { parent: this, protect: true };
    // The failover fence swaps an instance's security groups for the fence group outside Pulumi; the
    // next `pulumi up` of that region must not quietly put the database group back and open a
    // fenced old primary to its clients. Changing the database group's rules still applies.
    const instanceOptions = { ...protectedChild, ignoreChanges: ["vpcSecurityGroupIds"] };

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts the ${args.role} PostgreSQL storage, snapshots and Performance Insights`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      },
      protectedChild,
    );
    new aws.kms.Alias(`${name}-key`, { name: `alias/${args.identifier}-db`, targetKeyId: key.keyId }, parent);

    const subnets = new aws.rds.SubnetGroup(
      `${name}-subnets`,
      {
        subnetIds: args.privateSubnetIds,
        description: "Private subnets only; the database has no public route",
      },
      parent,
    );
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-db`,
      {
        vpcId: args.vpcId,
        description: "PostgreSQL from the region's cluster only",
        ingress: [
          {
            protocol: "tcp",
            fromPort: DATABASE_PORT,
            toPort: DATABASE_PORT,
            securityGroups: [args.clientSecurityGroupId],
            description: "EKS nodes and pods",
          },
        ],
      },
      parent,
    );
    // No ingress and no egress (an empty list removes AWS's default allow-all egress rule).
    const fence = new aws.ec2.SecurityGroup(
      `${name}-fence`,
      {
        vpcId: args.vpcId,
        description: "Failover fence: no rules; swapped onto an old primary so nothing reaches it",
        ingress: [],
        egress: [],
      },
      parent,
    );
    this.fenceSecurityGroupId = fence.id;
    const major = args.engineVersion.split(".")[0];
    const parameters = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        family: `postgres${major}`,
        description: "TLS required; slow statements logged",
        parameters: [
          { name: "rds.force_ssl", value: "1" },
          { name: "log_min_duration_statement", value: "500" },
        ],
      },
      parent,
    );

    const common = {
      instanceClass: args.instanceClass,
      storageEncrypted: true,
      kmsKeyId: key.arn,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [securityGroup.id],
      parameterGroupName: parameters.name,
      publiclyAccessible: false,
      deletionProtection: true,
      backupRetentionPeriod: args.backupRetentionDays,
      copyTagsToSnapshot: true,
      performanceInsightsEnabled: true,
      performanceInsightsKmsKeyId: key.arn,
      autoMinorVersionUpgrade: true,
      enabledCloudwatchLogsExports: ["postgresql", "upgrade"],
      skipFinalSnapshot: false,
    };

    if (args.role === "primary") {
      const primary = new aws.rds.Instance(
        `${name}-primary`,
        {
          ...common,
          identifier: `${args.identifier}-primary`,
          finalSnapshotIdentifier: `${args.identifier}-primary-final`,
          engine: "postgres",
          engineVersion: args.engineVersion,
          allocatedStorage: args.allocatedStorageGb,
          maxAllocatedStorage: args.maxAllocatedStorageGb,
          storageType: "gp3",
          multiAz: args.multiAz,
          dbName: DATABASE_NAME,
          username: "freight_admin",
          // RDS keeps the master password in Secrets Manager and rotates it; it never enters state.
          manageMasterUserPassword: true,
          masterUserSecretKmsKeyId: key.arn,
          iamDatabaseAuthenticationEnabled: true,
          backupWindow: "03:00-04:00",
          maintenanceWindow: "sun:05:00-sun:06:00",
        },
        instanceOptions,
      );
      const analytics = new aws.rds.Instance(
        `${name}-analytics`,
        {
          ...common,
          identifier: `${args.identifier}-analytics`,
          finalSnapshotIdentifier: `${args.identifier}-analytics-final`,
          instanceClass: args.analyticsReplicaInstanceClass ?? args.instanceClass,
          replicateSourceDb: primary.identifier,
          multiAz: false,
        },
        protectedChild,
      );
      this.arn = primary.arn;
      this.instanceIdentifier = primary.identifier;
      this.address = primary.address;
      this.analyticsReplicaArn = analytics.arn;
      this.analyticsReplicaAddress = analytics.address;
      this.masterUserSecretArn = primary.masterUserSecrets.apply((s) => s[0]?.secretArn ?? "");
    } else {
      if (args.sourceDbArn === undefined) {
        throw new Error(
          `Database "${name}": a secondary needs sourceDbArn (the primary stack's primaryDbArn output)`,
        );
      }
      const replica = new aws.rds.Instance(
        `${name}-replica`,
        {
          ...common,
          identifier: `${args.identifier}-replica`,
          finalSnapshotIdentifier: `${args.identifier}-replica-final`,
          // A cross-region source must be given by ARN; the key must belong to this region.
          replicateSourceDb: args.sourceDbArn,
          multiAz: args.multiAz,
          maxAllocatedStorage: args.maxAllocatedStorageGb,
        },
        // Promotion (runbook) detaches replicateSourceDb outside Pulumi; do not re-attach it.
        { ...instanceOptions, ignoreChanges: ["replicateSourceDb", "vpcSecurityGroupIds"] },
      );
      this.arn = replica.arn;
      this.instanceIdentifier = replica.identifier;
      this.address = replica.address;
    }

    this.kmsKeyArn = key.arn;
    this.registerOutputs({
      arn: this.arn,
      address: this.address,
      kmsKeyArn: this.kmsKeyArn,
      fenceSecurityGroupId: this.fenceSecurityGroupId,
    });
  }
}
