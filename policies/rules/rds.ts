// RDS guardrails for the PostgreSQL primary and its replicas. A replica is an instance with
// `replicateSourceDb`: an identifier for an in-region replica, an ARN for a cross-region one.
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import type { Rule } from "./common.ts";
import {
  at,
  isUnknown,
  isUnset,
  regionOf,
  regionOfArn,
  regionRoleOf,
  report,
  reportStack,
  stackOfUrn,
  stackRoleOf,
  withDefaults,
} from "./common.ts";

export const DB_INSTANCE_TYPE = "aws:rds/instance:Instance";

type ReplicaKind = "writable" | "in-region-replica" | "cross-region-replica" | "unknown";

function replicaKind(props: unknown): ReplicaKind {
  const source = at(props, "replicateSourceDb");
  if (isUnknown(source)) return "unknown";
  if (isUnset(source)) return "writable";
  return typeof source === "string" && source.startsWith("arn:")
    ? "cross-region-replica"
    : "in-region-replica";
}

function onlyDbInstances(args: ResourceValidationArgs): void {
  if (args.type !== DB_INSTANCE_TYPE)
    args.notApplicable(`Policy only applies to resources of type '${DB_INSTANCE_TYPE}'`);
}

export const rdsEncrypted: Rule = {
  name: "rds-encrypted-at-rest",
  description:
    "RDS instances are encrypted at rest; a cross-region replica names a KMS key of its own region (source keys do not cross regions).",
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps:
    "Set storageEncrypted: true and kmsKeyId to a customer-managed key; on a cross-region replica, kmsKeyId must be a key in the replica's region.",
  validateResource: (args, reportViolation) => {
    onlyDbInstances(args);
    const kind = replicaKind(args.props);
    const encrypted = at(args.props, "storageEncrypted");
    const kmsKeyId = at(args.props, "kmsKeyId");
    if (kind === "cross-region-replica") {
      if (isUnknown(kmsKeyId)) return;
      if (isUnset(kmsKeyId)) {
        report(
          reportViolation,
          args,
          "is a cross-region replica without a KMS key of its region, so it is created unencrypted (or fails to create from an encrypted source).",
          "set kmsKeyId to the ARN of a KMS key in the replica's region and storageEncrypted: true.",
        );
        return;
      }
      const keyRegion = typeof kmsKeyId === "string" ? regionOfArn(kmsKeyId) : undefined;
      const region = regionOf(args.props, args.provider);
      if (keyRegion && typeof region === "string" && keyRegion !== region) {
        report(
          reportViolation,
          args,
          `is a replica in ${region} encrypted with a KMS key from ${keyRegion}; RDS only accepts a key of the replica's own region.`,
          `create a KMS key in ${region} and use its ARN as kmsKeyId.`,
        );
      }
      return;
    }
    // In-region replicas inherit encryption from their source; the source is checked itself.
    if (kind !== "writable" || isUnknown(encrypted)) return;
    if (encrypted !== true) {
      report(
        reportViolation,
        args,
        "stores data unencrypted (storageEncrypted is not true).",
        "set storageEncrypted: true and kmsKeyId to the region's customer-managed KMS key (this replaces the instance: restore from an encrypted snapshot).",
      );
    }
  },
};

interface BackupConfig {
  minimumRetentionDays: number;
}

const backupSchema = {
  properties: {
    minimumRetentionDays: {
      type: "integer" as const,
      minimum: 1,
      maximum: 35,
      default: 7,
      description:
        "Fewest days of automated backups (point-in-time recovery window) a writable instance keeps.",
    },
  },
};

export const rdsBackups: Rule = {
  name: "rds-backup-retention",
  description: "Writable RDS instances keep automated backups long enough for point-in-time recovery.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: backupSchema,
  remediationSteps: "Raise backupRetentionPeriod to at least the configured minimum (default 7 days).",
  validateResource: (args, reportViolation) => {
    onlyDbInstances(args);
    if (replicaKind(args.props) !== "writable") return;
    const { minimumRetentionDays } = withDefaults<BackupConfig>(backupSchema, args.getConfig());
    const retention = at(args.props, "backupRetentionPeriod");
    if (isUnknown(retention)) return;
    const days = typeof retention === "number" ? retention : 0;
    if (days < minimumRetentionDays) {
      report(
        reportViolation,
        args,
        `keeps backups for ${days} day(s); at least ${minimumRetentionDays} are required.`,
        `set backupRetentionPeriod: ${minimumRetentionDays} or more (policy config rds-backup-retention.minimumRetentionDays).`,
      );
    }
  },
};

export const rdsDeletionProtection: Rule = {
  name: "rds-deletion-protection",
  description: "Writable RDS instances cannot be deleted by a stray `pulumi destroy` or a replacement.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps: "Set deletionProtection: true.",
  validateResource: (args, reportViolation) => {
    onlyDbInstances(args);
    if (replicaKind(args.props) !== "writable") return;
    const protectedFromDeletion = at(args.props, "deletionProtection");
    if (isUnknown(protectedFromDeletion) || protectedFromDeletion === true) return;
    report(
      reportViolation,
      args,
      "has deletion protection off, so a replacement or destroy drops the production database.",
      "set deletionProtection: true.",
    );
  },
};

export const rdsNotPublic: Rule = {
  name: "rds-not-publicly-accessible",
  description: "No RDS instance is reachable from the internet.",
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps: "Set publiclyAccessible: false and place the instance in private subnets.",
  validateResource: (args, reportViolation) => {
    onlyDbInstances(args);
    if (at(args.props, "publiclyAccessible") !== true) return;
    report(
      reportViolation,
      args,
      "is publicly accessible.",
      "set publiclyAccessible: false and use a DB subnet group of private subnets.",
    );
  },
};

export const rdsMultiAz: Rule = {
  name: "rds-multi-az-primary",
  description: "The writable database in the primary region runs Multi-AZ.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps: "Set multiAz: true on the primary region's writable instance.",
  validateResource: (args, reportViolation) => {
    onlyDbInstances(args);
    if (replicaKind(args.props) !== "writable") return;
    if (regionRoleOf(args, args.stackTags) !== "primary") return;
    const multiAz = at(args.props, "multiAz");
    if (isUnknown(multiAz) || multiAz === true) return;
    report(
      reportViolation,
      args,
      "is the primary region's writable database but runs in a single availability zone.",
      "set multiAz: true.",
    );
  },
};

function isCrossRegionReplica(resource: PolicyResource): boolean {
  return resource.type === DB_INSTANCE_TYPE && replicaKind(resource.props) === "cross-region-replica";
}

export const rdsSecondaryReplica: Rule = {
  name: "rds-secondary-has-primary-replica",
  description: "The secondary region's stack contains a cross-region read replica of the primary database.",
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps:
    "Declare an aws.rds.Instance in the secondary stack with replicateSourceDb set to the primary database ARN from the primary stack's outputs.",
  validateStack: (args, reportViolation) => {
    if (stackRoleOf(args.resources, args.stackTags) !== "secondary") {
      args.notApplicable("Only the secondary region's stack must hold a replica of the primary.");
    }
    const replicas = args.resources.filter(isCrossRegionReplica);
    const unknownSource = args.resources.some(
      (r) => r.type === DB_INSTANCE_TYPE && replicaKind(r.props) === "unknown",
    );
    if (replicas.length > 0 || unknownSource) return;
    const stack = args.resources.map((r) => stackOfUrn(r.urn)).find((s) => s !== undefined) ?? "(unnamed)";
    reportStack(
      reportViolation,
      stack,
      "is the secondary region's stack but has no cross-region replica of the primary database, so there is nothing to promote during a failover.",
      "add an aws.rds.Instance with replicateSourceDb = the primary stack's database ARN output and kmsKeyId = a KMS key of this region.",
    );
  },
};

export const rdsRules: Rule[] = [
  rdsEncrypted,
  rdsBackups,
  rdsDeletionProtection,
  rdsNotPublic,
  rdsMultiAz,
  rdsSecondaryReplica,
];
