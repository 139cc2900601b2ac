// S3 guardrails for the document buckets. With AWS provider v7 a bucket's settings usually live in
// companion resources (BucketVersioning, BucketServerSideEncryptionConfiguration, ...), so every rule
// here is a stack validation that follows each bucket through its companions, and also accepts the
// older inline form on the bucket itself.
import type {
  PolicyResource,
  ReportViolation,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import {
  UNKNOWN,
  asList,
  at,
  findTarget,
  isUnknown,
  regionRoleOf,
  report,
  stackRoleOf,
  withDefaults,
} from "./common.ts";

export const BUCKET_TYPES = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];
const VERSIONING_TYPES = [
  "aws:s3/bucketVersioning:BucketVersioning",
  "aws:s3/bucketVersioningV2:BucketVersioningV2",
];
const ENCRYPTION_TYPES = [
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
];
const PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
const ACCOUNT_PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock";
const ACL_TYPES = ["aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"];
const LIFECYCLE_TYPES = [
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
];
const REPLICATION_TYPE = "aws:s3/bucketReplicationConfig:BucketReplicationConfig";

const BLOCK_SETTINGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
const PUBLIC_ACLS = new Set(["public-read", "public-read-write", "authenticated-read"]);

/** A bucket and the companion resources that configure it. */
interface BucketView {
  bucket: PolicyResource;
  companions: PolicyResource[];
}

function bucketViews(resources: readonly PolicyResource[]): BucketView[] {
  const buckets = resources.filter((r) => BUCKET_TYPES.includes(r.type));
  const views = new Map(buckets.map((b) => [b.urn, { bucket: b, companions: [] as PolicyResource[] }]));
  for (const resource of resources) {
    if (!resource.type.startsWith("aws:s3/") || BUCKET_TYPES.includes(resource.type)) continue;
    const target = findTarget(resource, "bucket", buckets, ["bucket"]);
    if (target) views.get(target.urn)?.companions.push(resource);
  }
  return [...views.values()];
}

function companionsOfType(view: BucketView, types: readonly string[]): PolicyResource[] {
  return view.companions.filter((c) => types.includes(c.type));
}

/** Runs `check` for every bucket; a check returns a problem and fix, or nothing when compliant or unknown. */
function forEachBucket(
  args: StackValidationArgs,
  reportViolation: ReportViolation,
  check: (view: BucketView) => { problem: string; fix: string } | undefined,
): void {
  for (const view of bucketViews(args.resources)) {
    const finding = check(view);
    if (finding) report(reportViolation, view.bucket, finding.problem, finding.fix);
  }
}

/** Reduces several readings: any true wins, else any unknown means "cannot tell", else false. */
function anyTrue(readings: readonly (boolean | Unknown)[]): boolean | Unknown {
  if (readings.includes(true)) return true;
  return readings.includes(UNKNOWN) ? UNKNOWN : false;
}

// ---- versioning -------------------------------------------------------------------------------

function versioningEnabled(view: BucketView): boolean | Unknown {
  const props = view.bucket.props;
  const readings: (boolean | Unknown)[] = [];
  for (const inline of [at(props, "versioning"), ...asList(at(props, "versionings"))]) {
    const enabled = at(inline, "enabled");
    readings.push(isUnknown(enabled) ? UNKNOWN : enabled === true);
  }
  for (const companion of companionsOfType(view, VERSIONING_TYPES)) {
    const status = at(companion.props, "versioningConfiguration", "status");
    readings.push(isUnknown(status) ? UNKNOWN : status === "Enabled");
  }
  return anyTrue(readings);
}

export const s3Versioning: StackValidationPolicy = {
  name: "s3-bucket-versioning",
  description: "S3 buckets keep every version of a document so an overwrite or delete can be undone.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    'Add an aws.s3.BucketVersioning for the bucket with versioningConfiguration.status = "Enabled".',
  validateStack: (args, reportViolation) =>
    forEachBucket(args, reportViolation, (view) =>
      versioningEnabled(view) === false
        ? {
            problem: "versioning is not enabled, so an overwritten or deleted document cannot be recovered.",
            fix: 'add an aws.s3.BucketVersioning with bucket = this bucket and versioningConfiguration: { status: "Enabled" }.',
          }
        : undefined,
    ),
};

// ---- encryption -------------------------------------------------------------------------------

const KMS_ALGORITHMS = new Set(["aws:kms", "aws:kms:dsse"]);

function defaultEncryptionRules(view: BucketView): unknown[] {
  const props = view.bucket.props;
  const rules: unknown[] = [];
  rules.push(...asList(at(props, "serverSideEncryptionConfiguration", "rule")));
  for (const config of asList(at(props, "serverSideEncryptionConfigurations")))
    rules.push(...asList(at(config, "rules")));
  for (const companion of companionsOfType(view, ENCRYPTION_TYPES))
    rules.push(...asList(at(companion.props, "rules")));
  return rules;
}

export const s3Encryption: StackValidationPolicy = {
  name: "s3-bucket-sse-kms",
  description: "S3 buckets encrypt documents at rest with a KMS key (SSE-KMS).",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    'Add an aws.s3.BucketServerSideEncryptionConfiguration whose rule applies sseAlgorithm "aws:kms" with the region\'s KMS key.',
  validateStack: (args, reportViolation) =>
    forEachBucket(args, reportViolation, (view) => {
      const algorithms = defaultEncryptionRules(view).map((rule) =>
        at(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"),
      );
      if (algorithms.some((a) => isUnknown(a) || (typeof a === "string" && KMS_ALGORITHMS.has(a))))
        return undefined;
      const found = algorithms.filter((a) => typeof a === "string");
      return {
        problem:
          found.length > 0
            ? `default encryption uses ${found.join(", ")}, not SSE-KMS.`
            : "has no default server-side encryption with KMS.",
        fix: 'add an aws.s3.BucketServerSideEncryptionConfiguration with rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: <the region\'s key ARN> }, bucketKeyEnabled: true }].',
      };
    }),
};

// ---- public access ----------------------------------------------------------------------------

function blocksEverything(block: PolicyResource): boolean | Unknown {
  const readings = BLOCK_SETTINGS.map((key) => at(block.props, key));
  if (readings.includes(UNKNOWN)) return UNKNOWN;
  return readings.every((v) => v === true);
}

export const s3PublicAccess: StackValidationPolicy = {
  name: "s3-bucket-public-access-blocked",
  description: "S3 buckets block every form of public access; documents are shared through signed URLs only.",
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps:
    "Add an aws.s3.BucketPublicAccessBlock for the bucket with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true, and drop any public ACL.",
  validateStack: (args, reportViolation) => {
    const accountBlocks = args.resources.filter((r) => r.type === ACCOUNT_PUBLIC_ACCESS_BLOCK_TYPE);
    const accountBlocked = anyTrue(accountBlocks.map(blocksEverything));
    forEachBucket(args, reportViolation, (view) => {
      const acls = [
        at(view.bucket.props, "acl"),
        ...companionsOfType(view, ACL_TYPES).map((c) => at(c.props, "acl")),
      ];
      const publicAcl = acls.find((acl): acl is string => typeof acl === "string" && PUBLIC_ACLS.has(acl));
      if (publicAcl) {
        return {
          problem: `grants the public ACL "${publicAcl}", exposing documents to anyone on the internet.`,
          fix: 'remove the ACL (or set it to "private") and share documents through pre-signed URLs.',
        };
      }
      const blocks = companionsOfType(view, [PUBLIC_ACCESS_BLOCK_TYPE]);
      const blocked = anyTrue([accountBlocked, ...blocks.map(blocksEverything)]);
      if (blocked !== false) return undefined;
      const open =
        blocks.length === 0
          ? "has no public access block"
          : `its public access block leaves ${BLOCK_SETTINGS.filter((k) => at(blocks[0]?.props, k) !== true).join(", ")} off`;
      return {
        problem: `${open}, so a policy or ACL can make documents public.`,
        fix: "add an aws.s3.BucketPublicAccessBlock for this bucket with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all set to true.",
      };
    });
  },
};

// ---- lifecycle --------------------------------------------------------------------------------

interface LifecycleConfig {
  archiveStorageClasses: string[];
}

const lifecycleSchema = {
  properties: {
    archiveStorageClasses: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"],
      description: "Storage classes that count as archiving older documents to cold storage.",
    },
  },
};

interface LifecycleReading {
  archives: boolean;
  expiresNoncurrent: boolean;
  abortsMultipart: boolean;
}

/** Normalises inline (v6 Bucket/BucketV2) and companion lifecycle rules to the three things we need. */
function readLifecycle(view: BucketView, archiveClasses: readonly string[]): LifecycleReading | Unknown {
  const result: LifecycleReading = { archives: false, expiresNoncurrent: false, abortsMultipart: false };
  const inline = asList(at(view.bucket.props, "lifecycleRules"));
  const companion = companionsOfType(view, LIFECYCLE_TYPES).flatMap((c) => asList(at(c.props, "rules")));
  for (const rule of [...inline, ...companion]) {
    const enabled = at(rule, "enabled");
    const status = at(rule, "status");
    if (isUnknown(enabled) || isUnknown(status)) return UNKNOWN;
    if (!(enabled === true || status === "Enabled")) continue;
    const transitions = asList(at(rule, "transitions"));
    for (const transition of transitions) {
      const storageClass = at(transition, "storageClass");
      if (isUnknown(storageClass)) return UNKNOWN;
      if (typeof storageClass === "string" && archiveClasses.includes(storageClass)) result.archives = true;
    }
    const noncurrent = [
      ...asList(at(rule, "noncurrentVersionExpiration")),
      ...asList(at(rule, "noncurrentVersionExpirations")),
    ];
    for (const expiration of noncurrent) {
      const days = at(expiration, "noncurrentDays");
      const inlineDays = at(expiration, "days");
      if (isUnknown(days) || isUnknown(inlineDays)) return UNKNOWN;
      if (typeof days === "number" || typeof inlineDays === "number") result.expiresNoncurrent = true;
    }
    const abortDays = at(rule, "abortIncompleteMultipartUploadDays");
    const abort = at(rule, "abortIncompleteMultipartUpload", "daysAfterInitiation");
    if (isUnknown(abortDays) || isUnknown(abort)) return UNKNOWN;
    if (typeof abortDays === "number" || typeof abort === "number") result.abortsMultipart = true;
  }
  return result;
}

export const s3Lifecycle: StackValidationPolicy = {
  name: "s3-bucket-lifecycle",
  description:
    "S3 buckets archive older documents to cold storage, expire noncurrent versions and abort incomplete multipart uploads.",
  enforcementLevel: "mandatory",
  severity: "medium",
  configSchema: lifecycleSchema,
  remediationSteps:
    "Add an aws.s3.BucketLifecycleConfiguration with an enabled rule that has a transition to an archive storage class, a noncurrentVersionExpiration and an abortIncompleteMultipartUpload.",
  validateStack: (args, reportViolation) => {
    const config = withDefaults<LifecycleConfig>(lifecycleSchema, args.getConfig());
    forEachBucket(args, reportViolation, (view) => {
      const reading = readLifecycle(view, config.archiveStorageClasses);
      if (isUnknown(reading)) return undefined;
      const missing: string[] = [];
      const fixes: string[] = [];
      if (!reading.archives) {
        missing.push(`a transition to an archive storage class (${config.archiveStorageClasses.join(", ")})`);
        fixes.push('transitions: [{ days: 90, storageClass: "GLACIER" }]');
      }
      if (!reading.expiresNoncurrent) {
        missing.push("an expiration of noncurrent versions");
        fixes.push("noncurrentVersionExpiration: { noncurrentDays: 30 }");
      }
      if (!reading.abortsMultipart) {
        missing.push("an abort of incomplete multipart uploads");
        fixes.push("abortIncompleteMultipartUpload: { daysAfterInitiation: 7 }");
      }
      if (missing.length === 0) return undefined;
      return {
        problem: `lifecycle rules lack ${missing.join(", ")}, so storage grows without bound.`,
        fix: `add an enabled rule to the bucket's aws.s3.BucketLifecycleConfiguration with ${fixes.join(", ")}.`,
      };
    });
  },
};

// ---- replication ------------------------------------------------------------------------------

interface ReplicationConfig {
  documentBucketPattern: string;
}

const replicationSchema = {
  properties: {
    documentBucketPattern: {
      type: "string" as const,
      format: "regex",
      default: "doc|pod",
      description:
        "Case-insensitive regular expression on a bucket's logical name or bucket name that marks it as a document bucket.",
    },
  },
};

function replicates(view: BucketView): boolean | Unknown {
  const configs = [
    ...asList(at(view.bucket.props, "replicationConfiguration")),
    ...asList(at(view.bucket.props, "replicationConfigurations")),
    ...companionsOfType(view, [REPLICATION_TYPE]).map((c) => c.props),
  ];
  const readings: (boolean | Unknown)[] = [];
  for (const config of configs) {
    for (const rule of asList(at(config, "rules"))) {
      const status = at(rule, "status");
      const destination = at(rule, "destination", "bucket");
      if (isUnknown(status) || isUnknown(destination)) readings.push(UNKNOWN);
      else readings.push(status === "Enabled" && typeof destination === "string" && destination !== "");
    }
  }
  return anyTrue(readings);
}

export const s3Replication: StackValidationPolicy = {
  name: "s3-primary-document-replication",
  description: "Document buckets in the primary region replicate to the secondary region.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: replicationSchema,
  remediationSteps:
    "Add an aws.s3.BucketReplicationConfig on the primary document bucket with an enabled rule whose destination is the secondary region's document bucket.",
  validateStack: (args, reportViolation) => {
    const config = withDefaults<ReplicationConfig>(replicationSchema, args.getConfig());
    const pattern = new RegExp(config.documentBucketPattern, "i");
    const stackRole = stackRoleOf(args.resources, args.stackTags);
    forEachBucket(args, reportViolation, (view) => {
      const bucketName = at(view.bucket.props, "bucket");
      const names = [view.bucket.name, typeof bucketName === "string" ? bucketName : ""];
      if (!names.some((n) => pattern.test(n))) return undefined;
      const role = regionRoleOf(view.bucket, args.stackTags) ?? stackRole;
      if (role !== "primary" || replicates(view) !== false) return undefined;
      return {
        problem:
          "is a primary-region document bucket without cross-region replication, so the secondary region would miss documents after a failover.",
        fix: "add an aws.s3.BucketReplicationConfig for this bucket with an IAM role and an enabled rule whose destination.bucket is the secondary region's document bucket ARN (from the peer stack's outputs).",
      };
    });
  },
};

export const s3Rules: Rule[] = [s3Versioning, s3Encryption, s3PublicAccess, s3Lifecycle, s3Replication];
