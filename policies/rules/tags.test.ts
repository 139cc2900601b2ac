import { describe, expect, it } from "vitest";
import { UNKNOWN_OBJECT, check, plan, res, summary } from "../testing.ts";
import { TAGGABLE_TYPES, requiredTags } from "./tags.ts";

describe("tags-required", () => {
  it("accepts tags that come from the provider's defaultTags", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: "docs" });
    expect(summary(await check(plan([bucket]), requiredTags))).toEqual([]);
  });

  it("accepts tags on the resource itself, including the autoscaling group's list form", async () => {
    const own = { owner: "platform-team", "data-classification": "internal", "region-role": "secondary" };
    const key = res("aws:kms/key:Key", "documents-key", { tags: own });
    const asg = res("aws:autoscaling/group:Group", "runners", {
      tags: Object.entries(own).map(([k, value]) => ({ key: k, value, propagateAtLaunch: true })),
    });
    expect(summary(await check(plan([key, asg], { defaultTags: null }), requiredTags))).toEqual([]);
  });

  it("names the missing tags on a taggable resource", async () => {
    const report = await check(
      plan([res("aws:rds/instance:Instance", "database-primary", { tags: { owner: "platform-team" } })], {
        defaultTags: null,
      }),
      requiredTags,
    );
    expect(summary(report)).toEqual(["tags-required: database-primary"]);
    expect(report.violations[0]?.message).toContain("is missing the tag(s) data-classification, region-role");
    expect(report.violations[0]?.remediation).toContain("defaultTags");
  });

  it("rejects a region-role that is neither primary nor secondary", async () => {
    const report = await check(
      plan([res("aws:s3/bucket:Bucket", "documents-bucket", { tags: { "region-role": "standby" } })]),
      requiredTags,
    );
    expect(report.violations[0]?.message).toContain('has region-role="standby"');
  });

  it("skips resources that cannot carry tags, and unknown tag maps", async () => {
    const attachment = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "attach", {
      role: "r",
      policyArn: "p",
    });
    const record = res("aws:route53/record:Record", "dns-failover", { name: "x", type: "A" });
    const pending = res("aws:s3/bucket:Bucket", "pending", { tags: UNKNOWN_OBJECT });
    expect(
      summary(await check(plan([attachment, record, pending], { defaultTags: null }), requiredTags)),
    ).toEqual([]);
  });

  it("uses the tags a team configures", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: "docs" });
    const report = await check(plan([bucket]), requiredTags, {
      config: { "tags-required": { requiredTags: ["owner", "cost-center"] } },
    });
    expect(report.violations[0]?.message).toContain("is missing the tag(s) cost-center");
  });
});

describe("the taggable type list", () => {
  it("matches the installed @pulumi/aws (regenerate with node policies/data/generate-taggable-types.ts)", async () => {
    const { createRequire } = await import("node:module");
    const { dirname } = await import("node:path");
    const { taggableTypes } = await import("../data/generate-taggable-types.ts");
    const awsRoot = dirname(createRequire(import.meta.url).resolve("@pulumi/aws/package.json"));
    expect(new Set(taggableTypes(awsRoot).types)).toEqual(TAGGABLE_TYPES);
  });
});
