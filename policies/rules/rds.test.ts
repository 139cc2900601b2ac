import { describe, expect, it } from "vitest";
import { UNKNOWN_BOOLEAN, UNKNOWN_NUMBER, UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import {
  DB_INSTANCE_TYPE,
  rdsBackups,
  rdsDeletionProtection,
  rdsEncrypted,
  rdsMultiAz,
  rdsNotPublic,
  rdsRules,
  rdsSecondaryReplica,
} from "./rds.ts";

const PRIMARY = {
  identifier: "freight-us-east-1-primary",
  engine: "postgres",
  storageEncrypted: true,
  kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/primary",
  backupRetentionPeriod: 14,
  deletionProtection: true,
  publiclyAccessible: false,
  multiAz: true,
};
const CROSS_REGION_REPLICA = {
  identifier: "freight-us-west-2-replica",
  replicateSourceDb: "arn:aws:rds:us-east-1:123456789012:db:freight-us-east-1-primary",
  storageEncrypted: true,
  kmsKeyId: "arn:aws:kms:us-west-2:123456789012:key/replica",
  publiclyAccessible: false,
};

const db = (name: string, props: Record<string, unknown>) => res(DB_INSTANCE_TYPE, name, props);

describe("RDS rules", () => {
  it("pass the primary, its in-region analytics replica and the secondary's cross-region replica", async () => {
    const analytics = db("database-analytics", {
      replicateSourceDb: "freight-us-east-1-primary",
      publiclyAccessible: false,
      multiAz: false,
    });
    expect(summary(await check(plan([db("database-primary", PRIMARY), analytics]), rdsRules))).toEqual([]);
    expect(
      summary(
        await check(plan([db("database-replica", CROSS_REGION_REPLICA)], { role: "secondary" }), rdsRules),
      ),
    ).toEqual([]);
  });

  it("flag an unencrypted writable instance", async () => {
    const report = await check(
      plan([db("database-primary", { ...PRIMARY, storageEncrypted: false })]),
      rdsEncrypted,
    );
    expect(summary(report)).toEqual(["rds-encrypted-at-rest: database-primary"]);
    expect(report.violations[0]?.message).toContain("stores data unencrypted");
  });

  it("flag a cross-region replica without a KMS key, or with a key of another region", async () => {
    const { kmsKeyId: _key, ...withoutKey } = CROSS_REGION_REPLICA;
    const missing = await check(
      plan([db("database-replica", { ...withoutKey, storageEncrypted: false })], { role: "secondary" }),
      rdsEncrypted,
    );
    expect(summary(missing)).toEqual(["rds-encrypted-at-rest: database-replica"]);
    expect(missing.violations[0]?.message).toContain("cross-region replica without a KMS key of its region");
    const foreignKey = await check(
      plan(
        [
          db("database-replica", {
            ...CROSS_REGION_REPLICA,
            kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/p",
          }),
        ],
        {
          role: "secondary",
        },
      ),
      rdsEncrypted,
    );
    expect(foreignKey.violations[0]?.message).toContain(
      "replica in us-west-2 encrypted with a KMS key from us-east-1",
    );
  });

  it("require the configured backup retention, default 7 days", async () => {
    const short = await check(
      plan([db("database-primary", { ...PRIMARY, backupRetentionPeriod: 3 })]),
      rdsBackups,
    );
    expect(short.violations[0]?.message).toContain("keeps backups for 3 day(s); at least 7 are required");
    const unset = { ...PRIMARY } as Record<string, unknown>;
    delete unset["backupRetentionPeriod"];
    expect(summary(await check(plan([db("database-primary", unset)]), rdsBackups))).toEqual([
      "rds-backup-retention: database-primary",
    ]);
    const tuned = await check(plan([db("database-primary", PRIMARY)]), rdsBackups, {
      config: { "rds-backup-retention": { minimumRetentionDays: 21 } },
    });
    expect(tuned.violations[0]?.message).toContain("keeps backups for 14 day(s); at least 21 are required");
  });

  it("flag deletion protection off on a writable instance", async () => {
    const report = await check(
      plan([db("database-primary", { ...PRIMARY, deletionProtection: false })]),
      rdsDeletionProtection,
    );
    expect(summary(report)).toEqual(["rds-deletion-protection: database-primary"]);
  });

  it("flag any publicly accessible instance, replicas included", async () => {
    const report = await check(
      plan([db("database-replica", { ...CROSS_REGION_REPLICA, publiclyAccessible: true })], {
        role: "secondary",
      }),
      rdsNotPublic,
    );
    expect(summary(report)).toEqual(["rds-not-publicly-accessible: database-replica"]);
  });

  it("require Multi-AZ on the primary region's writable instance only", async () => {
    const single = { ...PRIMARY, multiAz: false };
    expect(summary(await check(plan([db("database-primary", single)]), rdsMultiAz))).toEqual([
      "rds-multi-az-primary: database-primary",
    ]);
    expect(
      summary(await check(plan([db("database-primary", single)], { role: "secondary" }), rdsMultiAz)),
    ).toEqual([]);
  });

  it("read the region role from the stack tag when resources carry no region-role tag", async () => {
    const single = plan([db("database-primary", { ...PRIMARY, multiAz: false })], { defaultTags: null });
    const asPrimary = await check(single, rdsMultiAz, { stackTags: new Map([["region-role", "primary"]]) });
    expect(summary(asPrimary)).toEqual(["rds-multi-az-primary: database-primary"]);
    const untagged = await check(single, rdsMultiAz, { stackTags: new Map() });
    expect(summary(untagged)).toEqual([]);
  });

  it("require a cross-region replica in the secondary stack, and not in the primary", async () => {
    const empty = await check(plan([], { role: "secondary" }), rdsSecondaryReplica);
    expect(empty.violations).toEqual([
      expect.objectContaining({
        policy: "rds-secondary-has-primary-replica",
        resource: "stack prod-secondary",
      }),
    ]);
    expect(empty.violations[0]?.urn).toBeUndefined();
    expect(empty.violations[0]?.message).toContain("has no cross-region replica of the primary database");
    const inRegionOnly = plan(
      [db("database-analytics", { replicateSourceDb: "freight-us-west-2-primary" })],
      {
        role: "secondary",
      },
    );
    expect(summary(await check(inRegionOnly, rdsSecondaryReplica))).toEqual([
      "rds-secondary-has-primary-replica: stack",
    ]);
    expect(summary(await check(plan([]), rdsSecondaryReplica))).toEqual([]);
  });

  it("do not flag values unknown during preview", async () => {
    const unknowns = db("database-primary", {
      ...PRIMARY,
      storageEncrypted: UNKNOWN_BOOLEAN,
      backupRetentionPeriod: UNKNOWN_NUMBER,
      deletionProtection: UNKNOWN_BOOLEAN,
      multiAz: UNKNOWN_BOOLEAN,
    });
    const replica = db("database-replica", { ...CROSS_REGION_REPLICA, kmsKeyId: UNKNOWN_STRING });
    expect(summary(await check(plan([unknowns]), rdsRules))).toEqual([]);
    expect(summary(await check(plan([replica], { role: "secondary" }), rdsRules))).toEqual([]);
    // A replica whose source ARN is unknown still counts as the secondary's replica.
    const unknownSource = db("database-replica", {
      ...CROSS_REGION_REPLICA,
      replicateSourceDb: UNKNOWN_STRING,
    });
    expect(summary(await check(plan([unknownSource], { role: "secondary" }), rdsSecondaryReplica))).toEqual(
      [],
    );
  });

  it("is not applicable to other resource types", async () => {
    const report = await check(
      plan([res("aws:rds/cluster:Cluster", "aurora", { storageEncrypted: false })]),
      rdsRules,
    );
    expect(report.violations).toEqual([]);
  });
});
