import { describe, expect, it } from "vitest";
import { UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import { dataResidency } from "./residency.ts";

describe("data-residency-allowed-regions", () => {
  it("passes resources in the stack's region through its provider", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: "docs" });
    expect(summary(await check(plan([bucket]), dataResidency))).toEqual([]);
    expect(summary(await check(plan([bucket], { role: "secondary" }), dataResidency))).toEqual([]);
  });

  it("flags a resource placed in another region with the v7 per-resource region", async () => {
    const report = await check(
      plan([res("aws:s3/bucket:Bucket", "stray", { bucket: "stray", region: "eu-west-1" })]),
      dataResidency,
    );
    expect(summary(report)).toEqual(["data-residency-allowed-regions: stray"]);
    expect(report.violations[0]?.message).toContain(
      "is placed in eu-west-1, outside the regions allowed for stack prod-primary (us-east-1)",
    );
  });

  it("flags the secondary stack's resources if its provider points at the primary's region", async () => {
    const report = await check(
      plan([res("aws:kms/key:Key", "documents-key", {})], { role: "secondary", region: "us-east-1" }),
      dataResidency,
    );
    expect(report.violations[0]?.message).toContain(
      "outside the regions allowed for stack prod-secondary (us-west-2)",
    );
  });

  it("flags a resource whose region is left to the deploying machine's AWS_REGION", async () => {
    const planned = plan([res("aws:kms/key:Key", "documents-key", {})]);
    // Drop the explicit provider: the default provider then has no aws:region in stack config.
    const withoutProvider = {
      ...planned,
      resources: planned.resources
        .filter((r) => !r.type.startsWith("pulumi:providers:"))
        .map(({ provider: _p, ...r }) => r),
    };
    const report = await check(withoutProvider, dataResidency);
    expect(report.violations[0]?.message).toContain("has no region of its own or from its provider");
    const configured = {
      ...withoutProvider,
      config: { ...withoutProvider.config, "aws:region": "us-east-1" },
    };
    expect(summary(await check(configured, dataResidency))).toEqual([]);
  });

  it("ignores global services and non-AWS resources", async () => {
    const role = res("aws:iam/role:Role", "role", { region: "eu-west-1" });
    const record = res("aws:route53/record:Record", "dns", {});
    const deployment = res("kubernetes:apps/v1:Deployment", "api", {});
    expect(
      summary(await check(plan([role, record, deployment], { region: "eu-west-1" }), dataResidency)),
    ).toEqual([]);
  });

  it("takes allowed regions per stack from config", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: "docs" });
    const report = await check(plan([bucket]), dataResidency, {
      config: { "data-residency-allowed-regions": { allowedRegions: { "prod-primary": ["eu-central-1"] } } },
    });
    expect(report.violations[0]?.message).toContain(
      "outside the regions allowed for stack prod-primary (eu-central-1)",
    );
  });

  it("does not decide on an unknown region", async () => {
    const pending = res("aws:s3/bucket:Bucket", "pending", { region: UNKNOWN_STRING });
    expect(summary(await check(plan([pending]), dataResidency))).toEqual([]);
  });
});
