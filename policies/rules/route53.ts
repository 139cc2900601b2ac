// DNS failover only moves traffic when Route 53 can tell that a region is unhealthy: a failover
// record without a health check stays PRIMARY forever.
import type { Rule } from "./common.ts";
import { asList, at, isUnknown, isUnset, report } from "./common.ts";

export const RECORD_TYPE = "aws:route53/record:Record";

export const route53FailoverHealthCheck: Rule = {
  name: "route53-failover-health-check",
  description: "Every Route 53 failover record has a health check, so traffic moves when a region fails.",
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps:
    "Create an aws.route53.HealthCheck on the region's /readyz and set the record's healthCheckId.",
  validateResource: (args, reportViolation) => {
    if (args.type !== RECORD_TYPE)
      args.notApplicable(`Policy only applies to resources of type '${RECORD_TYPE}'`);
    const policies = at(args.props, "failoverRoutingPolicies");
    if (isUnknown(policies) || asList(policies).length === 0) return;
    const failoverType = at(asList(policies)[0], "type");
    const healthCheckId = at(args.props, "healthCheckId");
    // An unknown id is a health check created in the same deployment: it will be set.
    if (isUnknown(healthCheckId) || !isUnset(healthCheckId)) return;
    report(
      reportViolation,
      args,
      `is a ${typeof failoverType === "string" ? failoverType : "failover"} failover record without a health check, so Route 53 never fails over away from it.`,
      "create an aws.route53.HealthCheck (type HTTPS, resourcePath /readyz) for this region and set healthCheckId to its id.",
    );
  },
};

export const route53Rules: Rule[] = [route53FailoverHealthCheck];
