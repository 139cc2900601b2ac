import { describe, expect, it } from "vitest";
import type { PlanResource } from "../offline.ts";
import { UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import { s3Encryption, s3Lifecycle, s3PublicAccess, s3Replication, s3Rules, s3Versioning } from "./s3.ts";

const BUCKET = "freightrate-example-documents-us-east-1";

/** The document bucket as stacks/program.ts builds it: a v7 Bucket and its companion resources. */
function documentsBucket(change: Record<string, Record<string, unknown> | null> = {}): PlanResource[] {
  const companions: Record<string, [string, Record<string, unknown>]> = {
    versioning: [
      "aws:s3/bucketVersioning:BucketVersioning",
      { versioningConfiguration: { status: "Enabled" } },
    ],
    encryption: [
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      {
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: "aws:kms",
              kmsMasterKeyId: "arn:aws:kms:us-east-1:123456789012:key/k",
            },
          },
        ],
      },
    ],
    "public-access": [
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    ],
    lifecycle: [
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      {
        rules: [
          { id: "archive", status: "Enabled", transitions: [{ days: 90, storageClass: "GLACIER_IR" }] },
          { id: "noncurrent", status: "Enabled", noncurrentVersionExpiration: { noncurrentDays: 30 } },
          { id: "multipart", status: "Enabled", abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
        ],
      },
    ],
    replication: [
      "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
      {
        role: "arn:aws:iam::123456789012:role/replication",
        rules: [
          {
            status: "Enabled",
            destination: { bucket: "arn:aws:s3:::freightrate-example-documents-us-west-2" },
          },
        ],
      },
    ],
  };
  const resources = [res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: BUCKET })];
  for (const [name, [type, props]] of Object.entries(companions)) {
    const replaced = name in change ? change[name] : props;
    if (replaced !== null && replaced !== undefined) {
      resources.push(res(type, `documents-${name}`, { bucket: BUCKET, ...replaced }));
    }
  }
  return resources;
}

describe("S3 rules on the companion-resource form (AWS provider v7)", () => {
  it("pass a fully configured primary document bucket", async () => {
    expect(summary(await check(plan(documentsBucket()), s3Rules))).toEqual([]);
  });

  it("flag a bucket without versioning, and one with versioning suspended", async () => {
    const missing = await check(plan(documentsBucket({ versioning: null })), s3Versioning);
    expect(summary(missing)).toEqual(["s3-bucket-versioning: documents-bucket"]);
    expect(missing.violations[0]?.message).toContain("documents-bucket (aws:s3/bucket:Bucket)");
    expect(missing.violations[0]?.remediation).toContain('status: "Enabled"');
    const suspended = await check(
      plan(documentsBucket({ versioning: { versioningConfiguration: { status: "Suspended" } } })),
      s3Versioning,
    );
    expect(summary(suspended)).toEqual(["s3-bucket-versioning: documents-bucket"]);
  });

  it("flag AES256 default encryption and missing encryption, naming what was found", async () => {
    const aes = await check(
      plan(
        documentsBucket({
          encryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
        }),
      ),
      s3Encryption,
    );
    expect(aes.violations.map((v) => v.message)).toEqual([
      expect.stringContaining("default encryption uses AES256, not SSE-KMS"),
    ]);
    expect(summary(await check(plan(documentsBucket({ encryption: null })), s3Encryption))).toEqual([
      "s3-bucket-sse-kms: documents-bucket",
    ]);
  });

  it("flag a missing or partial public access block and a public ACL", async () => {
    const none = await check(plan(documentsBucket({ "public-access": null })), s3PublicAccess);
    expect(none.violations[0]?.message).toContain("has no public access block");
    const partial = await check(
      plan(
        documentsBucket({
          "public-access": {
            blockPublicAcls: true,
            blockPublicPolicy: false,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
          },
        }),
      ),
      s3PublicAccess,
    );
    expect(partial.violations[0]?.message).toContain("leaves blockPublicPolicy off");
    const acl = await check(
      plan([
        ...documentsBucket(),
        res("aws:s3/bucketAcl:BucketAcl", "documents-acl", { bucket: BUCKET, acl: "public-read" }),
      ]),
      s3PublicAccess,
    );
    expect(acl.violations[0]?.message).toContain('public ACL "public-read"');
  });

  it("accept an account-wide public access block in the stack", async () => {
    const account = res("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", "account-block", {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(
      summary(await check(plan([...documentsBucket({ "public-access": null }), account]), s3PublicAccess)),
    ).toEqual([]);
  });

  it("list each lifecycle part that is missing", async () => {
    const report = await check(
      plan(
        documentsBucket({
          lifecycle: {
            rules: [
              { id: "ia", status: "Enabled", transitions: [{ days: 30, storageClass: "STANDARD_IA" }] },
            ],
          },
        }),
      ),
      s3Lifecycle,
    );
    expect(report.violations).toHaveLength(1);
    const message = report.violations[0]?.message ?? "";
    expect(message).toContain("a transition to an archive storage class");
    expect(message).toContain("an expiration of noncurrent versions");
    expect(message).toContain("an abort of incomplete multipart uploads");
    const disabled = await check(
      plan(
        documentsBucket({
          lifecycle: {
            rules: [
              {
                id: "all",
                status: "Disabled",
                transitions: [{ days: 90, storageClass: "GLACIER" }],
                noncurrentVersionExpiration: { noncurrentDays: 30 },
                abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
              },
            ],
          },
        }),
      ),
      s3Lifecycle,
    );
    expect(summary(disabled)).toEqual(["s3-bucket-lifecycle: documents-bucket"]);
  });

  it("take the archive storage classes from policy config", async () => {
    const planned = plan(
      documentsBucket({
        lifecycle: {
          rules: [
            {
              id: "all",
              status: "Enabled",
              transitions: [{ days: 90, storageClass: "GLACIER_IR" }],
              noncurrentVersionExpiration: { noncurrentDays: 30 },
              abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
            },
          ],
        },
      }),
    );
    expect(summary(await check(planned, s3Lifecycle))).toEqual([]);
    const strict = await check(planned, s3Lifecycle, {
      config: { "s3-bucket-lifecycle": { archiveStorageClasses: ["DEEP_ARCHIVE"] } },
    });
    expect(strict.violations[0]?.message).toContain("(DEEP_ARCHIVE)");
  });

  it("require replication on the primary's document bucket only", async () => {
    const primary = await check(plan(documentsBucket({ replication: null })), s3Replication);
    expect(summary(primary)).toEqual(["s3-primary-document-replication: documents-bucket"]);
    const secondary = await check(
      plan(documentsBucket({ replication: null }), { role: "secondary" }),
      s3Replication,
    );
    expect(summary(secondary)).toEqual([]);
    const logs = plan([res("aws:s3/bucket:Bucket", "access-logs", { bucket: "freight-access-logs" })]);
    expect(summary(await check(logs, s3Replication))).toEqual([]);
  });

  it("flag a disabled replication rule", async () => {
    const disabled = documentsBucket({
      replication: {
        role: "r",
        rules: [{ status: "Disabled", destination: { bucket: "arn:aws:s3:::dest" } }],
      },
    });
    expect(summary(await check(plan(disabled), s3Replication))).toEqual([
      "s3-primary-document-replication: documents-bucket",
    ]);
  });
});

describe("S3 rules on the inline form (Bucket and BucketV2 settings)", () => {
  it("pass a v6-style Bucket with inline settings", async () => {
    const inline = res("aws:s3/bucket:Bucket", "documents-bucket", {
      bucket: BUCKET,
      versioning: { enabled: true },
      serverSideEncryptionConfiguration: {
        rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } },
      },
      lifecycleRules: [
        {
          enabled: true,
          transitions: [{ days: 90, storageClass: "GLACIER" }],
          noncurrentVersionExpiration: { days: 30 },
          abortIncompleteMultipartUploadDays: 7,
        },
      ],
      replicationConfiguration: {
        role: "r",
        rules: [{ status: "Enabled", destination: { bucket: "arn:aws:s3:::dest" } }],
      },
    });
    const block = res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "documents-public-access", {
      bucket: BUCKET,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(summary(await check(plan([inline, block]), s3Rules))).toEqual([]);
  });

  it("read BucketV2's list-valued settings", async () => {
    const v2 = res("aws:s3/bucketV2:BucketV2", "documents-v2", {
      bucket: BUCKET,
      versionings: [{ enabled: false }],
      serverSideEncryptionConfigurations: [
        { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] },
      ],
    });
    expect(summary(await check(plan([v2]), [s3Versioning, s3Encryption]))).toEqual([
      "s3-bucket-versioning: documents-v2",
    ]);
  });
});

describe("S3 rules during preview", () => {
  it("do not flag settings whose values are still unknown", async () => {
    const planned = plan(
      documentsBucket({
        versioning: { versioningConfiguration: { status: UNKNOWN_STRING } },
        encryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: UNKNOWN_STRING } }] },
        "public-access": {
          blockPublicAcls: UNKNOWN_STRING,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        lifecycle: { rules: [{ id: "x", status: UNKNOWN_STRING }] },
        replication: { role: "r", rules: [{ status: "Enabled", destination: { bucket: UNKNOWN_STRING } }] },
      }),
    );
    const report = await check(planned, s3Rules);
    expect(report.violations).toEqual([]);
    expect(report.undecided).toEqual([]);
  });

  it("link companions through the engine's property dependencies when the bucket name is unknown", async () => {
    // During a real preview a new bucket's name is unknown; the engine still says which resource
    // the companion's `bucket` input came from.
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", {});
    const versioning = res("aws:s3/bucketVersioning:BucketVersioning", "documents-versioning", {
      bucket: UNKNOWN_STRING,
      versioningConfiguration: { status: "Enabled" },
    });
    const planned = plan([bucket, versioning]);
    const { stackResources } = await import("../offline.ts");
    const resources = stackResources(planned);
    const bucketResource = resources.find((r) => r.name === "documents-bucket")!;
    resources.find((r) => r.name === "documents-versioning")!.propertyDependencies = {
      bucket: [bucketResource],
    };
    const violations: string[] = [];
    await s3Versioning.validateStack(
      {
        resources,
        stackTags: new Map(),
        getConfig: <T>() => ({}) as T,
        notApplicable: () => {
          throw new Error("n/a");
        },
      },
      (message) => violations.push(message),
    );
    expect(violations).toEqual([]);
  });
});
