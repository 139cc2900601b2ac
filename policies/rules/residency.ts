// Enterprise data residency: every regional AWS resource of a stack lies in the regions that
// stack is allowed to use. Global services (IAM, Route 53, CloudFront, ...) have no region.
import type { Rule } from "./common.ts";
import { isUnknown, regionOf, report, stackOfUrn, withDefaults } from "./common.ts";

const GLOBAL_SERVICES = new Set([
  "iam",
  "route53",
  "route53domains",
  "route53recoverycontrol",
  "route53recoveryreadiness",
  "cloudfront",
  "organizations",
  "budgets",
  "globalaccelerator",
  "shield",
  "waf",
  "costexplorer",
  "cur",
  "account",
]);

/** `aws:s3/bucket:Bucket` -> `s3`; undefined for non-AWS types. */
function awsService(type: string): string | undefined {
  return /^aws:([^/:]+)\//.exec(type)?.[1];
}

interface ResidencyConfig {
  allowedRegions: Record<string, string[]>;
  defaultAllowedRegions: string[];
}

const residencySchema = {
  properties: {
    allowedRegions: {
      type: "object" as const,
      additionalProperties: { type: "array" as const, items: { type: "string" as const } },
      default: { "prod-primary": ["us-east-1"], "prod-secondary": ["us-west-2"] },
      description: "Regions each stack (by stack name) may place resources in.",
    },
    defaultAllowedRegions: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["us-east-1", "us-west-2"],
      description: "Regions allowed for stacks not listed in allowedRegions.",
    },
  },
};

export const dataResidency: Rule = {
  name: "data-residency-allowed-regions",
  description:
    "Every regional resource of a stack lies in the regions allowed for that stack (Enterprise residency).",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: residencySchema,
  remediationSteps:
    "Deploy the resource with the stack's own aws provider (region from aws:region), or add the region to the stack's allowedRegions if residency permits.",
  validateResource: (args, reportViolation) => {
    const service = awsService(args.type);
    if (!service || GLOBAL_SERVICES.has(service))
      args.notApplicable("Only regional AWS resources have a residency.");
    const config = withDefaults<ResidencyConfig>(residencySchema, args.getConfig());
    const stack = stackOfUrn(args.urn) ?? "";
    const allowed = config.allowedRegions[stack] ?? config.defaultAllowedRegions;
    const region = regionOf(args.props, args.provider);
    if (isUnknown(region)) return;
    if (region === undefined) {
      report(
        reportViolation,
        args,
        `has no region of its own or from its provider, so AWS_REGION on the deploying machine decides where it lands (stack ${stack} allows ${allowed.join(", ")}).`,
        `set aws:region in Pulumi.${stack}.yaml or pass an aws.Provider with an explicit region.`,
      );
      return;
    }
    if (allowed.includes(region)) return;
    report(
      reportViolation,
      args,
      `is placed in ${region}, outside the regions allowed for stack ${stack} (${allowed.join(", ")}).`,
      `create it through the stack's own provider (${allowed[0] ?? "an allowed region"}), or extend data-residency-allowed-regions.allowedRegions["${stack}"] if the customer's residency terms permit.`,
    );
  },
};

export const residencyRules: Rule[] = [dataResidency];
