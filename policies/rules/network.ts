// Network guardrails: the EKS API server is not open to the internet and logs its control plane,
// and no security group accepts traffic from anywhere except HTTPS on the load balancer.
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import type { Rule, Unknown } from "./common.ts";
import { UNKNOWN, asList, at, findTarget, isUnknown, report, withDefaults } from "./common.ts";

export const EKS_CLUSTER_TYPE = "aws:eks/cluster:Cluster";
const SECURITY_GROUP_TYPE = "aws:ec2/securityGroup:SecurityGroup";
const INGRESS_RULE_TYPE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const LEGACY_RULE_TYPE = "aws:ec2/securityGroupRule:SecurityGroupRule";
const LOAD_BALANCER_TYPES = [
  "aws:lb/loadBalancer:LoadBalancer",
  "aws:alb/loadBalancer:LoadBalancer",
  "aws:elb/loadBalancer:LoadBalancer",
];
const ANYWHERE = new Set(["0.0.0.0/0", "::/0"]);

function onlyClusters(args: { type: string; notApplicable(reason?: string): never }): void {
  if (args.type !== EKS_CLUSTER_TYPE)
    args.notApplicable(`Policy only applies to resources of type '${EKS_CLUSTER_TYPE}'`);
}

export const eksPrivateEndpoint: Rule = {
  name: "eks-private-api-endpoint",
  description: "The EKS API server is private, or its public endpoint only admits listed CIDRs.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Set vpcConfig.endpointPrivateAccess: true and either endpointPublicAccess: false or publicAccessCidrs to the office/VPN ranges.",
  validateResource: (args, reportViolation) => {
    onlyClusters(args);
    const privateAccess = at(args.props, "vpcConfig", "endpointPrivateAccess");
    const publicAccess = at(args.props, "vpcConfig", "endpointPublicAccess");
    const cidrs = at(args.props, "vpcConfig", "publicAccessCidrs");
    if (isUnknown(privateAccess) || isUnknown(publicAccess) || isUnknown(cidrs)) return;
    const problems: string[] = [];
    if (privateAccess !== true)
      problems.push("the private endpoint is off (nodes reach the API over the internet)");
    // EKS defaults: public endpoint on, open to 0.0.0.0/0.
    if (publicAccess !== false) {
      const allowed = asList(cidrs).filter((c): c is string => typeof c === "string");
      if (allowed.length === 0 || allowed.some((c) => ANYWHERE.has(c))) {
        problems.push("the public endpoint admits 0.0.0.0/0");
      }
    }
    if (problems.length === 0) return;
    report(
      reportViolation,
      args,
      `exposes its API server: ${problems.join(" and ")}.`,
      "set vpcConfig.endpointPrivateAccess: true and endpointPublicAccess: false, or keep the public endpoint with publicAccessCidrs limited to your VPN/office ranges.",
    );
  },
};

interface LoggingConfig {
  requiredLogTypes: string[];
}

const loggingSchema = {
  properties: {
    requiredLogTypes: {
      type: "array" as const,
      items: {
        type: "string" as const,
        enum: ["api", "audit", "authenticator", "controllerManager", "scheduler"],
      },
      default: ["api", "audit", "authenticator"],
      description: "EKS control-plane log types every cluster sends to CloudWatch.",
    },
  },
};

export const eksControlPlaneLogging: Rule = {
  name: "eks-control-plane-logging",
  description: "EKS clusters send their control-plane logs (API, audit, authenticator) to CloudWatch.",
  enforcementLevel: "mandatory",
  severity: "medium",
  configSchema: loggingSchema,
  remediationSteps: 'Set enabledClusterLogTypes to include "api", "audit" and "authenticator".',
  validateResource: (args, reportViolation) => {
    onlyClusters(args);
    const { requiredLogTypes } = withDefaults<LoggingConfig>(loggingSchema, args.getConfig());
    const enabled = at(args.props, "enabledClusterLogTypes");
    if (isUnknown(enabled)) return;
    const missing = requiredLogTypes.filter((t) => !asList(enabled).includes(t));
    if (missing.length === 0) return;
    report(
      reportViolation,
      args,
      `does not log ${missing.join(", ")} from its control plane, so API calls cannot be audited.`,
      `set enabledClusterLogTypes: ${JSON.stringify(requiredLogTypes)}.`,
    );
  },
};

interface OpenIngressConfig {
  loadBalancerPattern: string;
}

const openIngressSchema = {
  properties: {
    loadBalancerPattern: {
      type: "string" as const,
      format: "regex",
      default: "(^|[-_])(lb|alb|nlb|elb|load-?balancer|ingress)([-_]|$)",
      description:
        "Case-insensitive regular expression on a security group's logical name that marks it as a load balancer's (where HTTPS from anywhere is allowed). Groups attached to an aws.lb.LoadBalancer in the stack count too.",
    },
  },
};

interface Opening {
  cidr: string;
  protocol: string;
  fromPort: number | undefined;
  toPort: number | undefined;
}

/** Ingress entries of one resource that admit the whole internet. */
function openings(
  entries: readonly unknown[],
  cidrKeys: readonly string[],
  protocolKey: string,
): Opening[] | Unknown {
  const result: Opening[] = [];
  for (const entry of entries) {
    const cidrs: unknown[] = [];
    for (const key of cidrKeys) {
      const value = at(entry, key);
      if (isUnknown(value)) return UNKNOWN;
      cidrs.push(...asList(value));
    }
    const protocol = at(entry, protocolKey);
    const fromPort = at(entry, "fromPort");
    const toPort = at(entry, "toPort");
    if (isUnknown(protocol) || isUnknown(fromPort) || isUnknown(toPort)) return UNKNOWN;
    for (const cidr of cidrs) {
      if (typeof cidr === "string" && ANYWHERE.has(cidr)) {
        result.push({
          cidr,
          protocol: String(protocol ?? "-1"),
          fromPort: typeof fromPort === "number" ? fromPort : undefined,
          toPort: typeof toPort === "number" ? toPort : undefined,
        });
      }
    }
  }
  return result;
}

function isHttpsOnly(opening: Opening): boolean {
  return opening.protocol.toLowerCase() === "tcp" && opening.fromPort === 443 && opening.toPort === 443;
}

function describeOpening(o: Opening): string {
  // "-1" (or "all") is every protocol on every port.
  if (o.protocol === "-1" || o.protocol.toLowerCase() === "all") return `all traffic from ${o.cidr}`;
  const ports =
    o.fromPort === undefined
      ? "all ports"
      : o.fromPort === o.toPort
        ? `port ${o.fromPort}`
        : `ports ${o.fromPort}-${o.toPort}`;
  return `${o.protocol} ${ports} from ${o.cidr}`;
}

function loadBalancerGroups(args: StackValidationArgs, pattern: RegExp): Set<string> {
  const groups = args.resources.filter((r) => r.type === SECURITY_GROUP_TYPE);
  const result = new Set(groups.filter((g) => pattern.test(g.name)).map((g) => g.urn));
  for (const lb of args.resources.filter((r) => LOAD_BALANCER_TYPES.includes(r.type))) {
    const deps = lb.propertyDependencies?.["securityGroups"] ?? [];
    for (const dep of deps) result.add(dep.urn);
    const ids = asList(at(lb.props, "securityGroups"));
    for (const group of groups) {
      const id = at(group.props, "id");
      if (typeof id === "string" && ids.includes(id)) result.add(group.urn);
    }
  }
  return result;
}

export const noOpenSecurityGroups: Rule = {
  name: "security-group-no-open-ingress",
  description: "No security group admits 0.0.0.0/0 or ::/0, except HTTPS (tcp/443) on the load balancer.",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: openIngressSchema,
  remediationSteps:
    "Restrict the ingress to the VPC CIDR or a source security group; only the load balancer's group may admit tcp/443 from anywhere.",
  validateStack: (args, reportViolation) => {
    const { loadBalancerPattern } = withDefaults<OpenIngressConfig>(openIngressSchema, args.getConfig());
    const pattern = new RegExp(loadBalancerPattern, "i");
    const groups = args.resources.filter((r) => r.type === SECURITY_GROUP_TYPE);
    const lbGroups = loadBalancerGroups(args, pattern);
    const check = (
      resource: PolicyResource,
      found: Opening[] | Unknown,
      group: PolicyResource | undefined,
    ) => {
      if (isUnknown(found)) return;
      const onLoadBalancer = group ? lbGroups.has(group.urn) : pattern.test(resource.name);
      const offending = found.filter((o) => !(onLoadBalancer && isHttpsOnly(o)));
      if (offending.length === 0) return;
      report(
        reportViolation,
        resource,
        `admits ${offending.map(describeOpening).join("; ")}${onLoadBalancer ? "" : " on a group that is not the load balancer's"}.`,
        onLoadBalancer
          ? "limit the load balancer's open ingress to tcp/443; reach other ports through the VPC or a source security group."
          : "replace the 0.0.0.0/0 source with the VPC CIDR, a prefix list or referencedSecurityGroupId of the load balancer.",
      );
    };
    for (const group of groups) {
      check(
        group,
        openings(asList(at(group.props, "ingress")), ["cidrBlocks", "ipv6CidrBlocks"], "protocol"),
        group,
      );
    }
    for (const rule of args.resources.filter((r) => r.type === INGRESS_RULE_TYPE)) {
      const group = findTarget(rule, "securityGroupId", groups, ["name"]);
      check(rule, openings([rule.props], ["cidrIpv4", "cidrIpv6"], "ipProtocol"), group);
    }
    for (const rule of args.resources.filter((r) => r.type === LEGACY_RULE_TYPE)) {
      if (at(rule.props, "type") !== "ingress") continue;
      const group = findTarget(rule, "securityGroupId", groups, ["name"]);
      check(rule, openings([rule.props], ["cidrBlocks", "ipv6CidrBlocks"], "protocol"), group);
    }
  },
};

export const networkRules: Rule[] = [eksPrivateEndpoint, eksControlPlaneLogging, noOpenSecurityGroups];
