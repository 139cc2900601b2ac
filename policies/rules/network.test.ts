import { describe, expect, it } from "vitest";
import { UNKNOWN_ARRAY, UNKNOWN_BOOLEAN, check, plan, res, summary } from "../testing.ts";
import {
  EKS_CLUSTER_TYPE,
  eksControlPlaneLogging,
  eksPrivateEndpoint,
  noOpenSecurityGroups,
} from "./network.ts";

const cluster = (vpcConfig: Record<string, unknown>, logs: unknown = ["api", "audit", "authenticator"]) =>
  res(EKS_CLUSTER_TYPE, "cluster-eks", {
    name: "freight-us-east-1",
    roleArn: "arn:aws:iam::123456789012:role/cp",
    vpcConfig: { subnetIds: ["subnet-1"], ...vpcConfig },
    enabledClusterLogTypes: logs,
  });

describe("eks-private-api-endpoint", () => {
  it("passes a private-only endpoint and a public endpoint limited to listed CIDRs", async () => {
    const privateOnly = cluster({ endpointPrivateAccess: true, endpointPublicAccess: false });
    const allowList = cluster({
      endpointPrivateAccess: true,
      endpointPublicAccess: true,
      publicAccessCidrs: ["203.0.113.0/24"],
    });
    expect(summary(await check(plan([privateOnly]), eksPrivateEndpoint))).toEqual([]);
    expect(summary(await check(plan([allowList]), eksPrivateEndpoint))).toEqual([]);
  });

  it("flags EKS's defaults: public endpoint open to 0.0.0.0/0, private endpoint off", async () => {
    const report = await check(plan([cluster({})]), eksPrivateEndpoint);
    expect(summary(report)).toEqual(["eks-private-api-endpoint: cluster-eks"]);
    expect(report.violations[0]?.message).toContain("the private endpoint is off");
    expect(report.violations[0]?.message).toContain("the public endpoint admits 0.0.0.0/0");
    const openCidr = cluster({ endpointPrivateAccess: true, publicAccessCidrs: ["0.0.0.0/0"] });
    expect(summary(await check(plan([openCidr]), eksPrivateEndpoint))).toEqual([
      "eks-private-api-endpoint: cluster-eks",
    ]);
  });

  it("does not decide on unknown endpoint settings", async () => {
    const pending = cluster({ endpointPrivateAccess: UNKNOWN_BOOLEAN, publicAccessCidrs: UNKNOWN_ARRAY });
    expect(summary(await check(plan([pending]), eksPrivateEndpoint))).toEqual([]);
  });
});

describe("eks-control-plane-logging", () => {
  const privateVpc = { endpointPrivateAccess: true, endpointPublicAccess: false };

  it("passes with api, audit and authenticator logs", async () => {
    expect(summary(await check(plan([cluster(privateVpc)]), eksControlPlaneLogging))).toEqual([]);
  });

  it("names the missing log types, and honours a configured list", async () => {
    const report = await check(plan([cluster(privateVpc, ["api"])]), eksControlPlaneLogging);
    expect(report.violations[0]?.message).toContain("does not log audit, authenticator");
    const none = await check(plan([cluster(privateVpc, null)]), eksControlPlaneLogging);
    expect(summary(none)).toEqual(["eks-control-plane-logging: cluster-eks"]);
    const tuned = await check(
      plan([cluster(privateVpc, ["api", "audit", "authenticator"])]),
      eksControlPlaneLogging,
      {
        config: {
          "eks-control-plane-logging": { requiredLogTypes: ["api", "audit", "authenticator", "scheduler"] },
        },
      },
    );
    expect(tuned.violations[0]?.message).toContain("does not log scheduler");
  });
});

describe("security-group-no-open-ingress", () => {
  const https = { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] };

  it("allows HTTPS from anywhere on the load balancer's group, and private ingress anywhere", async () => {
    const lb = res("aws:ec2/securityGroup:SecurityGroup", "network-api-lb", { ingress: [https] });
    const db = res("aws:ec2/securityGroup:SecurityGroup", "database-db", {
      ingress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, securityGroups: ["sg-nodes"] }],
    });
    expect(summary(await check(plan([lb, db]), noOpenSecurityGroups))).toEqual([]);
  });

  it("flags HTTPS from anywhere on a group that is not the load balancer's", async () => {
    const report = await check(
      plan([res("aws:ec2/securityGroup:SecurityGroup", "database-db", { ingress: [https] })]),
      noOpenSecurityGroups,
    );
    expect(report.violations[0]?.message).toContain(
      "admits tcp port 443 from 0.0.0.0/0 on a group that is not the load balancer's",
    );
  });

  it("flags other ports open on the load balancer, and all traffic from ::/0", async () => {
    const lb = res("aws:ec2/securityGroup:SecurityGroup", "network-api-lb", {
      ingress: [https, { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] }],
    });
    const report = await check(plan([lb]), noOpenSecurityGroups);
    expect(report.violations.map((v) => v.message)).toEqual([
      expect.stringContaining("admits tcp port 80 from 0.0.0.0/0."),
    ]);
    const all = res("aws:ec2/securityGroup:SecurityGroup", "nodes", {
      ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }],
    });
    expect((await check(plan([all]), noOpenSecurityGroups)).violations[0]?.message).toContain(
      "admits all traffic from ::/0 on a group",
    );
  });

  it("follows standalone ingress rules (vpc.SecurityGroupIngressRule, ec2.SecurityGroupRule) to their group", async () => {
    const lb = res("aws:ec2/securityGroup:SecurityGroup", "network-api-lb", { name: "api-lb" });
    const nodes = res("aws:ec2/securityGroup:SecurityGroup", "cluster-nodes", { name: "nodes" });
    const lbHttps = res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "https-in", {
      securityGroupId: "api-lb",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      cidrIpv4: "0.0.0.0/0",
    });
    const nodesSsh = res("aws:ec2/securityGroupRule:SecurityGroupRule", "ssh-in", {
      type: "ingress",
      securityGroupId: "nodes",
      protocol: "tcp",
      fromPort: 22,
      toPort: 22,
      cidrBlocks: ["0.0.0.0/0"],
    });
    const egress = res("aws:ec2/securityGroupRule:SecurityGroupRule", "all-out", {
      type: "egress",
      securityGroupId: "nodes",
      protocol: "-1",
      fromPort: 0,
      toPort: 0,
      cidrBlocks: ["0.0.0.0/0"],
    });
    const report = await check(plan([lb, nodes, lbHttps, nodesSsh, egress]), noOpenSecurityGroups);
    expect(summary(report)).toEqual(["security-group-no-open-ingress: ssh-in"]);
    expect(report.violations[0]?.message).toContain("tcp port 22 from 0.0.0.0/0");
  });

  it("counts a group attached to a load balancer as the load balancer's, whatever its name", async () => {
    const group = res("aws:ec2/securityGroup:SecurityGroup", "edge", { id: "sg-123", ingress: [https] });
    const lb = res("aws:lb/loadBalancer:LoadBalancer", "api", { securityGroups: ["sg-123"] });
    expect(summary(await check(plan([group, lb]), noOpenSecurityGroups))).toEqual([]);
  });

  it("does not decide on an unknown CIDR list", async () => {
    const pending = res("aws:ec2/securityGroup:SecurityGroup", "database-db", {
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: UNKNOWN_ARRAY }],
    });
    expect(summary(await check(plan([pending]), noOpenSecurityGroups))).toEqual([]);
  });
});
