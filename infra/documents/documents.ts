// The documents bucket (rate confirmations, bills of lading, PODs) of one region. Both regions
// keep a full copy: the primary replicates every object version and delete marker to the
// secondary with Replication Time Control, so a failover finds the documents already there.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyDocument, tlsOnlyBucketPolicy } from "./bucket-policy.ts";

export interface DocumentsLifecycle {
  /** Age at which current versions move to the archive class. */
  archiveAfterDays: number;
  archiveStorageClass: "GLACIER_IR" | "GLACIER" | "DEEP_ARCHIVE";
  /** Days an overwritten or deleted version is kept before it expires. */
  noncurrentVersionExpireDays: number;
}

export interface ReplicationTarget {
  bucketArn: pulumi.Input<string>;
  /** KMS key of the destination region; replicas are re-encrypted with it. */
  kmsKeyArn: pulumi.Input<string>;
}

export interface DocumentsArgs {
  bucketName: string;
  lifecycle: DocumentsLifecycle;
  /** Set on the primary only; the secondary is a replication destination. */
  replicateTo?: ReplicationTarget;
  /**
   * The other region's documents bucket: the API reads its replicas there (and signs URLs for them)
   * while this region's bucket does not answer.
   */
  readReplicaFrom: { bucketName: string; region: string };
}

/** Incomplete multipart uploads are garbage after this long (uploads finish in minutes). */
export const ABORT_MULTIPART_AFTER_DAYS = 7;
/** Replication Time Control's SLA: 99.99 % of objects within 15 minutes. */
export const REPLICATION_TIME_MINUTES = 15;

export class Documents extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly kmsKeyArn: pulumi.Output<string>;
  /** Lets the API read/write documents and sign URLs for them in this region only. */
  readonly appAccessPolicyArn: pulumi.Output<string>;
  readonly replicationRoleArn?: pulumi.Output<string>;

  constructor(name: string, args: DocumentsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:documents:Documents", name, {}, opts);
    const parent = { parent: this };

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts documents in ${args.bucketName}`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      },
      { parent: this, protect: true },
    );
    new aws.kms.Alias(`${name}-key`, { name: `alias/${args.bucketName}`, targetKeyId: key.keyId }, parent);

    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: args.bucketName },
      { parent: this, protect: true },
    );

    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn },
            // Bucket keys cut KMS request costs by orders of magnitude for many small documents.
            bucketKeyEnabled: true,
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: bucket.id,
        rules: [
          {
            id: "archive-old-documents",
            status: "Enabled",
            filter: {},
            transitions: [
              { days: args.lifecycle.archiveAfterDays, storageClass: args.lifecycle.archiveStorageClass },
            ],
          },
          {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: args.lifecycle.noncurrentVersionExpireDays },
          },
          {
            id: "abort-incomplete-multipart-uploads",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_AFTER_DAYS },
          },
        ],
      },
      { parent: this, dependsOn: [versioning] },
    );
    tlsOnlyBucketPolicy(`${name}-tls-only`, bucket, parent);

    const appAccess = new aws.iam.Policy(
      `${name}-app-access`,
      {
        description: `Quote API: read/write documents and sign URLs for ${args.bucketName}, read its replicas in ${args.readReplicaFrom.bucketName}`,
        policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) => {
          const replicaArn = `arn:aws:s3:::${args.readReplicaFrom.bucketName}`;
          return policyDocument([
            {
              Sid: "Documents",
              Effect: "Allow",
              // Delete writes a delete marker; DeleteObjectVersion removes an upload that failed its
              // confirmation (it was never a document).
              Action: [
                "s3:GetObject",
                "s3:PutObject",
                "s3:GetObjectVersion",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
              ],
              Resource: `${bucketArn}/*`,
            },
            { Sid: "ListDocuments", Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn },
            {
              Sid: "DocumentKey",
              Effect: "Allow",
              Action: ["kms:Decrypt", "kms:GenerateDataKey"],
              Resource: keyArn,
            },
            {
              Sid: "ReadReplicas",
              Effect: "Allow",
              Action: ["s3:GetObject", "s3:GetObjectVersion"],
              Resource: `${replicaArn}/*`,
            },
            // A missing replica answers 404 (not 403) only with ListBucket; the health probe is HeadBucket.
            { Sid: "ListReplicas", Effect: "Allow", Action: ["s3:ListBucket"], Resource: replicaArn },
            {
              Sid: "ReplicaKey",
              Effect: "Allow",
              Action: ["kms:Decrypt"],
              Resource: `arn:aws:kms:${args.readReplicaFrom.region}:*:key/*`,
              Condition: {
                StringEquals: { "kms:ViaService": `s3.${args.readReplicaFrom.region}.amazonaws.com` },
              },
            },
          ]);
        }),
      },
      parent,
    );

    if (args.replicateTo) {
      const target = args.replicateTo;
      const replicationRole = new aws.iam.Role(
        `${name}-replication`,
        {
          description: `S3 replication of ${args.bucketName} to the secondary region`,
          assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" },
            ],
          }),
        },
        parent,
      );
      new aws.iam.RolePolicy(
        `${name}-replication`,
        {
          role: replicationRole.id,
          policy: pulumi
            .all([bucket.arn, key.arn, target.bucketArn, target.kmsKeyArn])
            .apply(([sourceArn, sourceKey, destArn, destKey]) =>
              policyDocument([
                {
                  Effect: "Allow",
                  Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                  Resource: sourceArn,
                },
                {
                  Effect: "Allow",
                  Action: [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                  ],
                  Resource: `${sourceArn}/*`,
                },
                {
                  Effect: "Allow",
                  Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                  Resource: `${destArn}/*`,
                },
                { Effect: "Allow", Action: ["kms:Decrypt"], Resource: sourceKey },
                { Effect: "Allow", Action: ["kms:Encrypt", "kms:GenerateDataKey"], Resource: destKey },
              ]),
            ),
        },
        parent,
      );
      new aws.s3.BucketReplicationConfig(
        `${name}-replication`,
        {
          bucket: bucket.id,
          role: replicationRole.arn,
          rules: [
            {
              id: "documents-to-secondary",
              status: "Enabled",
              priority: 1,
              filter: {},
              deleteMarkerReplication: { status: "Enabled" },
              sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
              destination: {
                bucket: target.bucketArn,
                storageClass: "STANDARD",
                encryptionConfiguration: { replicaKmsKeyId: target.kmsKeyArn },
                replicationTime: { status: "Enabled", time: { minutes: REPLICATION_TIME_MINUTES } },
                metrics: { status: "Enabled", eventThreshold: { minutes: REPLICATION_TIME_MINUTES } },
              },
            },
          ],
        },
        // S3 rejects a replication configuration on a bucket whose versioning is not yet on.
        { parent: this, dependsOn: [versioning] },
      );
      this.replicationRoleArn = replicationRole.arn;
    }

    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.kmsKeyArn = key.arn;
    this.appAccessPolicyArn = appAccess.arn;
    this.registerOutputs({
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      kmsKeyArn: this.kmsKeyArn,
    });
  }
}
