import { describe, expect, it } from "vitest";
import { UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import { failoverPolicy } from "../../infra/workloads/failover.ts";
import { iamDnsChangesScoped, iamNoAdminWildcard } from "./iam.ts";

const admin = { Effect: "Allow", Action: "*", Resource: "*" };
const scoped = { Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::docs/*" };

describe("iam-no-wildcard-admin", () => {
  it("passes scoped policies in every document shape", async () => {
    const resources = [
      res("aws:iam/policy:Policy", "as-string", {
        policy: JSON.stringify({ Version: "2012-10-17", Statement: [scoped] }),
      }),
      res("aws:iam/policy:Policy", "as-object", { policy: { Version: "2012-10-17", Statement: scoped } }),
      // "*" resource with specific actions is common (e.g. ec2:Describe*) and allowed.
      res("aws:iam/rolePolicy:RolePolicy", "describe", {
        policy: JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }],
        }),
      }),
      // Denying everything is the opposite of admin.
      res("aws:s3/bucketPolicy:BucketPolicy", "tls-only", {
        policy: JSON.stringify({
          Statement: [{ Effect: "Deny", Principal: "*", Action: "*", Resource: "*" }],
        }),
      }),
    ];
    expect(summary(await check(plan(resources), iamNoAdminWildcard))).toEqual([]);
  });

  it("flags * on * as a JSON string, an object, a single statement or one among many", async () => {
    const resources = [
      res("aws:iam/policy:Policy", "string-array", {
        policy: JSON.stringify({ Statement: [scoped, admin] }),
      }),
      res("aws:iam/policy:Policy", "object-single", { policy: { Statement: admin } }),
      res("aws:iam/rolePolicy:RolePolicy", "lists", {
        policy: JSON.stringify({
          Statement: [{ Sid: "Everything", Effect: "Allow", Action: ["*"], Resource: ["*"] }],
        }),
      }),
      res("aws:iam/userPolicy:UserPolicy", "star-colon-star", {
        policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "*:*", Resource: "*" }] }),
      }),
    ];
    const report = await check(plan(resources), iamNoAdminWildcard);
    expect(summary(report)).toEqual([
      "iam-no-wildcard-admin: string-array",
      "iam-no-wildcard-admin: object-single",
      "iam-no-wildcard-admin: lists",
      "iam-no-wildcard-admin: star-colon-star",
    ]);
    expect(report.violations[2]?.message).toContain(
      'policy allows Action "*" on Resource "*" (statement Everything)',
    );
  });

  it("checks a role's inline policies but not its trust policy", async () => {
    const role = res("aws:iam/role:Role", "workloads-quote-api", {
      assumeRolePolicy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }),
      inlinePolicies: [
        { name: "docs", policy: JSON.stringify({ Statement: [scoped] }) },
        { name: "oops", policy: JSON.stringify({ Statement: [admin] }) },
      ],
    });
    const report = await check(plan([role]), iamNoAdminWildcard);
    expect(report.violations.map((v) => v.message)).toEqual([
      expect.stringContaining("inlinePolicies[oops]"),
    ]);
  });

  it("flags attaching AWS's AdministratorAccess, but not narrower managed policies", async () => {
    const admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    const resources = [
      res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ci-admin", { role: "ci", policyArn: admin }),
      res("aws:iam/role:Role", "break-glass", { assumeRolePolicy: "{}", managedPolicyArns: [admin] }),
      res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-control-plane", {
        role: "cp",
        policyArn: "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
      }),
    ];
    const report = await check(plan(resources), iamNoAdminWildcard);
    expect(summary(report)).toEqual([
      "iam-no-wildcard-admin: ci-admin",
      "iam-no-wildcard-admin: break-glass",
    ]);
    expect(report.violations[0]?.message).toContain("attaches arn:aws:iam::aws:policy/AdministratorAccess");
  });

  it("does not decide on a document that is unknown during preview", async () => {
    const pending = res("aws:iam/policy:Policy", "pending", { policy: UNKNOWN_STRING });
    const partly = res("aws:iam/policy:Policy", "partly", {
      policy: { Statement: [{ Effect: "Allow", Action: "*", Resource: UNKNOWN_STRING }] },
    });
    const report = await check(plan([pending, partly]), iamNoAdminWildcard);
    expect(report.violations).toEqual([]);
  });
});

describe("iam-dns-changes-scoped", () => {
  // The failover controller's own grant (the only one the stacks make), as infra/workloads builds it.
  const zone = "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ";
  const region = (awsRegion: string) => ({
    awsRegion,
    dbArn: `arn:aws:rds:${awsRegion}:123456789012:db:freight`,
    dbIdentifier: "freight",
    dbAddress: `freight.${awsRegion}.rds.amazonaws.com`,
  });
  const failover = failoverPolicy({
    domain: "freightrate.example",
    hostedZoneId: "Z0123456789ABCDEFGHIJ",
    databaseDriver: "rds",
    trafficDriver: "routing-row+route53",
    automatic: false,
    regions: { primary: region("us-east-1"), secondary: region("us-west-2") },
  });
  const scopedChange = (failover["Statement"] as Record<string, unknown>[]).find(
    (statement) => statement["Sid"] === "MoveApiWeights",
  )!;

  it("passes a record change limited to named records, reads, denies and other services", async () => {
    const resources = [
      res("aws:iam/policy:Policy", "failover", { policy: JSON.stringify(failover) }),
      res("aws:iam/rolePolicy:RolePolicy", "reads", {
        policy: JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "route53:ListResourceRecordSets", Resource: zone }],
        }),
      }),
      res("aws:iam/policy:Policy", "deny", {
        policy: { Statement: { Effect: "Deny", Action: "route53:*", Resource: "*" } },
      }),
      // Every action, but only on a bucket: no zone is in reach.
      res("aws:iam/policy:Policy", "bucket", {
        policy: { Statement: { Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::docs/*" } },
      }),
    ];
    expect(summary(await check(plan(resources), iamDnsChangesScoped))).toEqual([]);
  });

  it("flags a zone-wide record change, by name, by wildcard and on every zone", async () => {
    const { Condition: _dropped, ...unscoped } = scopedChange;
    const resources = [
      res("aws:iam/policy:Policy", "zone-wide", { policy: JSON.stringify({ Statement: [unscoped] }) }),
      res("aws:iam/rolePolicy:RolePolicy", "wildcard", {
        policy: JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "route53:Change*", Resource: "*" }],
        }),
      }),
      res("aws:iam/role:Role", "inline", {
        assumeRolePolicy: "{}",
        inlinePolicies: [
          {
            name: "dns",
            policy: JSON.stringify({
              Statement: [
                { Effect: "Allow", Action: ["ROUTE53:*"], Resource: "arn:aws:route53:::hostedzone/*" },
              ],
            }),
          },
        ],
      }),
    ];
    const report = await check(plan(resources), iamDnsChangesScoped);
    expect(summary(report)).toEqual([
      "iam-dns-changes-scoped: zone-wide",
      "iam-dns-changes-scoped: wildcard",
      "iam-dns-changes-scoped: inline",
    ]);
    expect(report.violations[0]!.message).toContain("(statement MoveApiWeights)");
    expect(report.violations[0]!.remediation).toContain(
      "route53:ChangeResourceRecordSetsNormalizedRecordNames",
    );
  });

  it("waits for values unknown during preview", async () => {
    const resources = [res("aws:iam/policy:Policy", "unknown", { policy: UNKNOWN_STRING })];
    expect(summary(await check(plan(resources), iamDnsChangesScoped))).toEqual([]);
  });
});
